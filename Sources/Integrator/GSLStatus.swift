import CGSL

// GSL's status codes arrive in Swift as `Int` enum constants while its callbacks return `Int32`.
let gslSuccess = Int32(GSL_SUCCESS)
let gslBadFunction = Int32(GSL_EBADFUNC)
let gslFault = Int32(GSL_EFAULT)
let gslMaxIterations = Int32(GSL_EMAXITER)
let gslNoProgress = Int32(GSL_ENOPROG)
let gslNoProgressJacobian = Int32(GSL_ENOPROGJ)
let gslFailure = Int32(GSL_FAILURE)
