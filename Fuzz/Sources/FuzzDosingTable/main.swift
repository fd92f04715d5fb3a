import FuzzSupport

runFuzzer { data, size in
    fuzzDosingTable(bytes(data, size))
    return 0
}
