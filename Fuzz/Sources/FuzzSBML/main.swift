import FuzzSupport

runFuzzer { data, size in
    fuzzSBML(bytes(data, size))
    return 0
}
