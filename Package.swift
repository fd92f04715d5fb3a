// swift-tools-version: 6.1
import PackageDescription

// Layers, lowest first; each depends only on the ones above it in this list:
//   CGSL (system library) -> Integrator          (knows ODEs, not ketamine)
//   Expressions -> Models                        (knows model files, not CSV)
//   Models + Integrator -> Experiments           (scenarios, doses, sweeps, metrics, CSV)
//   SBML, PEtab -> Fitting                       (least squares on GSL, multistart; knows residuals)
//   Experiments -> ketasim (executable)          (argument parsing and printing only)
let package = Package(
    name: "ketasim",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ketasim", targets: ["ketasim"]),
        .library(name: "KetasimKit", targets: ["Expressions", "Models", "Integrator", "Experiments", "SBML", "PEtab", "Fitting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // No pkgConfig: gsl.pc puts -lgslcblas before the module map's -lopenblas, and the first
        // library to define cblas_dgemm is the one GSL calls (Sources/CGSL/shim.h).
        .systemLibrary(name: "CGSL"),
        .target(name: "Expressions"),
        .target(name: "Models", dependencies: ["Expressions", "Integrator", .product(name: "Yams", package: "Yams")]),
        .target(name: "Integrator", dependencies: ["CGSL"]),
        .target(name: "Experiments", dependencies: ["Models", "Integrator", "Expressions"]),
        .target(name: "SBML", dependencies: ["Models", "Expressions", "Integrator", "Experiments"]),
        .target(name: "PEtab", dependencies: ["SBML", "Experiments", "Models", "Expressions", "Integrator", .product(name: "Yams", package: "Yams")]),
        .target(name: "Fitting", dependencies: ["PEtab", "SBML", "Models", "Experiments", "Integrator", "CGSL", .product(name: "Yams", package: "Yams")]),
        .executableTarget(name: "sbml-test-suite", dependencies: ["SBML"]),
        .executableTarget(
            name: "ketasim",
            dependencies: ["Experiments", "Models", "Integrator", "SBML", "PEtab", "Fitting", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "ExpressionsTests", dependencies: ["Expressions"]),
        .testTarget(name: "IntegratorTests", dependencies: ["Integrator"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Expressions"]),
        .testTarget(name: "ExperimentsTests", dependencies: ["Experiments", "Models", "Integrator"]),
        .testTarget(name: "CLITests", dependencies: ["ketasim"]),
        .testTarget(name: "PEtabTests", dependencies: ["PEtab", "SBML", "Experiments", "Integrator", .product(name: "Yams", package: "Yams")]),
        .testTarget(name: "FittingTests", dependencies: ["Fitting", "PEtab", "SBML", "Models", "Experiments", "Integrator"]),
        .testTarget(name: "SBMLTests", dependencies: ["SBML", "Models", "Expressions", "Integrator", "Experiments"], exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)
