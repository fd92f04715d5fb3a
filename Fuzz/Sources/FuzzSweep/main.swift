import FuzzSupport

runFuzzer { data, size in
    fuzzSweep(bytes(data, size))
    return 0
}
