// swift-tools-version: 6.1
import PackageDescription

// A package of its own, so that `swift build` and `swift test` at the root never build the
// benchmark dependency. Run from this folder: `swift package benchmark` (or `make bench` at the root).
let package = Package(
    name: "ketasim-benchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        // Named, because a path package is otherwise known by its folder name, which differs per checkout.
        .package(name: "ketasim", path: "../"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "Ketasim",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "KetasimKit", package: "ketasim"),
            ],
            path: "Benchmarks/Ketasim",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
