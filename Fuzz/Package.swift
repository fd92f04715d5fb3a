// swift-tools-version: 6.1
import PackageDescription

// libFuzzer harnesses, one per reader, in a package of their own so that `swift build` and
// `swift test` at the root never build them. Built and run by `scripts/fuzz` (or `make fuzz` at the
// root) with `-sanitize=fuzzer`, which links libFuzzer from Swift's own clang runtime; each harness's
// main.swift hands its input function to libFuzzer's driver (FuzzSupport).
let package = Package(
    name: "ketasim-fuzz",
    platforms: [.macOS(.v13)],
    dependencies: [
        // Named, because a path package is otherwise known by its folder name, which differs per checkout.
        .package(name: "ketasim", path: "../"),
    ],
    targets: [
        .target(name: "FuzzSupport"),
        .executableTarget(name: "FuzzModel", dependencies: ["FuzzSupport", .product(name: "KetasimKit", package: "ketasim")]),
        .executableTarget(name: "FuzzExpression", dependencies: ["FuzzSupport", .product(name: "KetasimKit", package: "ketasim")]),
        .executableTarget(name: "FuzzSBML", dependencies: ["FuzzSupport", .product(name: "KetasimKit", package: "ketasim")]),
        .executableTarget(name: "FuzzDose", dependencies: ["FuzzSupport", .product(name: "KetasimKit", package: "ketasim")]),
        .executableTarget(name: "FuzzDosingTable", dependencies: ["FuzzSupport", .product(name: "KetasimKit", package: "ketasim")]),
        .executableTarget(name: "FuzzSweep", dependencies: ["FuzzSupport", .product(name: "KetasimKit", package: "ketasim")]),
    ],
    swiftLanguageModes: [.v6]
)
