import FuzzSupport

runFuzzer { data, size in
    fuzzDose(bytes(data, size))
    return 0
}
