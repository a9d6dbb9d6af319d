// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = []

let package = Package(
    name: "Cairn",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "cairn", targets: ["cairn"]),
        .library(name: "CairnCommands", targets: ["CairnCommands"]),
        .library(name: "CairnEngine", targets: ["CairnEngine"]),
        .library(name: "CairnChunking", targets: ["CairnChunking"]),
        .library(name: "CairnCrypto", targets: ["CairnCrypto"]),
        .library(name: "CairnCompression", targets: ["CairnCompression"]),
        .library(name: "CairnFormat", targets: ["CairnFormat"]),
        .library(name: "CairnRepository", targets: ["CairnRepository"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        // `cairn serve` (CairnServer): Hummingbird without its Foundation and swift-configuration traits.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // C libraries from Debian's -dev packages, each imported by exactly one Swift module.
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // Only for `backup --decompress` of gzip and xz streams.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CLzma", pkgConfig: "liblzma", providers: [.apt(["liblzma-dev"])]),
        // Only for `cairn mount`: FUSE's high-level API.
        .systemLibrary(name: "CFuse", pkgConfig: "fuse3", providers: [.apt(["libfuse3-dev"])]),
        // POSIX headers Glibc's module leaves out (xattrs).
        .systemLibrary(name: "CPosix"),

        // Primitives.
        .target(name: "CairnCore", swiftSettings: strict),
        .target(name: "CairnCrypto", dependencies: ["CairnCore", "CCrypto"], swiftSettings: strict),
        .target(name: "CairnCompression", dependencies: ["CairnCore", "CZstd", "CZlib", "CLzma"], swiftSettings: strict),
        .target(name: "CairnChunking", dependencies: ["CairnCore", "CairnCrypto"], swiftSettings: strict),
        // On-disk format: knows bytes, not storage.
        .target(name: "CairnFormat",
                dependencies: ["CairnCore", "CairnCrypto", "CairnCompression", "CairnChunking"], swiftSettings: strict),
        // Storage backends: know files, not snapshots.
        .target(name: "CairnStorage",
                dependencies: ["CairnCore", "CPosix", .product(name: "SystemPackage", package: "swift-system")],
                swiftSettings: strict),
        // Remote stores over HTTP: blocking exchanges with retries, then one module per protocol.
        .target(name: "CairnHTTP",
                dependencies: ["CairnCore", "CairnStorage", .product(name: "AsyncHTTPClient", package: "async-http-client")],
                swiftSettings: strict),
        .target(name: "CairnREST", dependencies: ["CairnHTTP"], swiftSettings: strict),
        // S3: AWS Signature V4 signed here.
        .target(name: "CairnS3", dependencies: ["CairnHTTP", "CairnCrypto"], swiftSettings: strict),
        // SFTP v3 over the system ssh.
        .target(name: "CairnSFTP", dependencies: ["CairnCore", "CairnStorage"], swiftSettings: strict),
        // `cairn serve`: a restic REST protocol v2 server over a LocalBackend.
        .target(name: "CairnServer",
                dependencies: ["CairnCore", "CairnCrypto", "CairnStorage",
                               .product(name: "Hummingbird", package: "hummingbird"),
                               .product(name: "HummingbirdCore", package: "hummingbird"),
                               .product(name: "HummingbirdTLS", package: "hummingbird"),
                               .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                               .product(name: "NIOSSL", package: "swift-nio-ssl")],
                swiftSettings: strict),
        // Repository: keys, packer, index, locks, cache.
        .target(name: "CairnRepository",
                dependencies: ["CairnCore", "CairnCrypto", "CairnCompression", "CairnChunking",
                               "CairnFormat", "CairnStorage", "CSQLite"],
                swiftSettings: strict),
        // Engine: archiver, restorer, checker.
        .target(name: "CairnEngine",
                dependencies: ["CairnRepository", "CairnCompression", "CPosix", .product(name: "SystemPackage", package: "swift-system")],
                swiftSettings: strict),
        // Sources: podman and docker volumes, incus instances, volumes and config, through their own export tools.
        .target(name: "CairnSources", dependencies: ["CairnEngine", "CairnRepository", "CairnStorage"], swiftSettings: strict),
        // The library API every front end calls: one typed command per operation, every rule
        // of the format spec and every multi-step flow (docs/architecture.md).
        .target(name: "CairnCommands", dependencies: ["CairnEngine", "CairnSources", "CairnRepository", "CairnStorage"], swiftSettings: strict),
        // `cairn mount`: the snapshots as a read-only folder tree, served through FUSE.
        .target(name: "CairnMount", dependencies: ["CairnEngine", "CairnRepository", "CairnStorage", "CFuse"], swiftSettings: strict),
        .executableTarget(name: "cairn",
                          dependencies: ["CairnCommands", "CairnEngine", "CairnSources", "CairnMount", "CairnHTTP", "CairnREST", "CairnS3", "CairnSFTP", "CairnServer", "CPosix",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: strict),
        // Writes format-spec/vectors/ from fixed randomness.
        .executableTarget(name: "CairnVectors", dependencies: ["CairnEngine"], swiftSettings: strict),
        .testTarget(name: "CairnTests", dependencies: ["CairnCommands", "CairnEngine", "CairnSources", "CairnMount", "CairnREST", "CairnS3", "CairnSFTP", "CPosix"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
