import FuzzSupport

runFuzzer { data, size in
    fuzzExpression(bytes(data, size))
    return 0
}
