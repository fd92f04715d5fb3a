import FuzzSupport

runFuzzer { data, size in
    fuzzModel(bytes(data, size))
    return 0
}
