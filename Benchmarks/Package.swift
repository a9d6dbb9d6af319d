// swift-tools-version:6.1
// Benchmarks for Cairn's primitives, kept in their own package so that the main package does
// not depend on ordo-one/benchmark. Run from this folder; see README.md.
import PackageDescription

let package = Package(
    name: "CairnBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(name: "Cairn", path: ".."),
    ],
    targets: [
        // Deterministic input data shared by the benchmarks and chunker-speed.
        .target(name: "BenchData", path: "Sources/BenchData"),
        .executableTarget(
            name: "CairnPrimitives",
            dependencies: [
                "BenchData",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "CairnChunking", package: "Cairn"),
                .product(name: "CairnCrypto", package: "Cairn"),
                .product(name: "CairnCompression", package: "Cairn"),
            ],
            path: "Benchmarks/CairnPrimitives",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Quick single-threaded chunking number: `swift run -c release chunker-speed`.
        .executableTarget(
            name: "chunker-speed",
            dependencies: [
                "BenchData",
                .product(name: "CairnChunking", package: "Cairn"),
            ],
            path: "Sources/chunker-speed"
        ),
        // The in-memory index at scale: `swift run -c release index-scale [millions]`.
        .executableTarget(
            name: "index-scale",
            dependencies: [
                .product(name: "CairnRepository", package: "Cairn"),
                .product(name: "CairnFormat", package: "Cairn"),
                .product(name: "CairnCrypto", package: "Cairn"),
            ],
            path: "Sources/index-scale"
        ),
    ],
    swiftLanguageModes: [.v6]
)
