// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = []

let package = Package(
    name: "Cairn",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "cairn", targets: ["cairn"]),
        .library(name: "CairnCommands", targets: ["CairnCommands"]),
        // The engine, one library per concern (the map is above the engine targets below).
        .library(name: "CairnTree", targets: ["CairnTree"]),
        .library(name: "CairnRetention", targets: ["CairnRetention"]),
        .library(name: "CairnArchive", targets: ["CairnArchive"]),
        .library(name: "CairnRestore", targets: ["CairnRestore"]),
        .library(name: "CairnCheck", targets: ["CairnCheck"]),
        .library(name: "CairnMaintenance", targets: ["CairnMaintenance"]),
        .library(name: "CairnBrowse", targets: ["CairnBrowse"]),
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
        // The scheme registry (local:, rest:, s3:, sftp:) and the wrappers around every store.
        .target(name: "CairnStores",
                dependencies: ["CairnCore", "CairnStorage", "CairnHTTP", "CairnREST", "CairnS3", "CairnSFTP"],
                swiftSettings: strict),
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
        // The engine, split by concern (docs/architecture.md). Dependencies point one way, down:
        //
        //   CairnArchive   CairnMaintenance    CairnRestore   CairnBrowse
        //     │    │         │     │     │           │              │
        //     │    ▼         ▼     │     ▼           │              │
        //     │  CairnRetention    │   CairnCheck    │              │
        //     │        │           │     │           │              │
        //     ▼        │           ▼     ▼           ▼              ▼
        //   CairnTree ◀┼───────────┴─────┴───────────┴──────────────┘
        //     │        │
        //     ▼        ▼
        //   CairnRepository
        //
        //   CairnArchive     → CairnTree, CairnRetention (a source's saved keep policy is carried
        //                      into its next snapshot, spec §11.2)
        //   CairnMaintenance → CairnTree, CairnRetention (replaceSnapshot), CairnCheck (size syntax)
        //   CairnRestore, CairnCheck, CairnBrowse → CairnTree
        //   CairnTree, CairnRetention → CairnRepository
        //
        // Shared base: paths and file system calls, excludes, progress counters, snapshot
        // selection and tree walks, chunk maps and stream reading, tar member parsing.
        .target(name: "CairnTree",
                dependencies: ["CairnRepository", "CairnChunking", "CPosix"],
                swiftSettings: strict),
        // Which snapshots are kept: keep policies and the calendar, saved policies, and the
        // snapshot-file edits forget, tag and policy make.
        .target(name: "CairnRetention", dependencies: ["CairnRepository"], swiftSettings: strict),
        // Backup: the archiver, the scanner, stream input (compression), sparse files.
        .target(name: "CairnArchive",
                dependencies: ["CairnTree", "CairnRetention", "CairnCompression", "CairnChunking", "CPosix"],
                swiftSettings: strict),
        // Restore: the restorer, restore windows, tar stream extraction.
        .target(name: "CairnRestore", dependencies: ["CairnTree", "CPosix"], swiftSettings: strict),
        // check and repair (index, packs, snapshots).
        .target(name: "CairnCheck", dependencies: ["CairnTree"], swiftSettings: strict),
        // prune (plan and execute), rewrite, copy.
        .target(name: "CairnMaintenance",
                dependencies: ["CairnTree", "CairnRetention", "CairnCheck"], swiftSettings: strict),
        // find, diff, stats.
        .target(name: "CairnBrowse", dependencies: ["CairnTree"], swiftSettings: strict),
        // Sources: podman and docker volumes, incus instances, volumes and config, through their own export tools.
        .target(name: "CairnSources", dependencies: ["CairnTree", "CairnRetention", "CairnArchive", "CairnRepository", "CairnStorage"], swiftSettings: strict),
        // The library API every front end calls: one typed command per operation, every rule
        // of the format spec and every multi-step flow (docs/architecture.md).
        .target(name: "CairnCommands",
                dependencies: ["CairnTree", "CairnRetention", "CairnArchive", "CairnRestore", "CairnCheck", "CairnMaintenance",
                               "CairnBrowse", "CairnSources", "CairnRepository", "CairnStorage"], swiftSettings: strict),
        // `cairn mount`: the snapshots as a read-only folder tree, served through FUSE.
        .target(name: "CairnMount", dependencies: ["CairnTree", "CairnRepository", "CairnStorage", "CFuse"], swiftSettings: strict),
        .executableTarget(name: "cairn",
                          dependencies: ["CairnCommands", "CairnTree", "CairnRetention", "CairnArchive", "CairnRestore", "CairnCheck", "CairnMaintenance", "CairnBrowse",
                                         "CairnSources", "CairnMount", "CairnHTTP", "CairnREST", "CairnS3", "CairnSFTP", "CairnStores", "CairnServer", "CPosix",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: strict,
                          // Release builds link the Swift runtime (stdlib, FoundationEssentials, Dispatch) statically,
                          // so the binary runs on a Debian machine without the toolchain (scripts/check-static.sh).
                          // FoundationEssentials' archive needs _FoundationCollections and _FoundationCShims, which
                          // the (dynamic) module imports do not autolink. GNU ld instead of gold, with --no-warnings:
                          // glibc's link-time note on the mktemp inside FoundationEssentials is the only warning, and
                          // gold cannot silence it. Debug builds (the tests) link dynamically, as before.
                          linkerSettings: [.unsafeFlags(["-static-stdlib", "-l_FoundationCollections", "-l_FoundationCShims",
                                                         "-use-ld=bfd", "-Xlinker", "--no-warnings"],
                                                        .when(configuration: .release))]),
        // The test-vector builder: not production code and no product; used only by CairnVectors
        // and by the tests (which rebuild the vectors and compare).
        .target(name: "CairnVectorsBuilder", dependencies: ["CairnRepository", "CairnStorage"], swiftSettings: strict),
        // Writes format-spec/vectors/ from fixed randomness.
        .executableTarget(name: "CairnVectors", dependencies: ["CairnVectorsBuilder"], swiftSettings: strict),
        .testTarget(name: "CairnTests", dependencies: ["CairnCommands", "CairnTree", "CairnRetention", "CairnArchive", "CairnRestore", "CairnCheck",
                                                      "CairnMaintenance", "CairnBrowse", "CairnVectorsBuilder", "CairnSources", "CairnMount", "CairnREST", "CairnS3", "CairnSFTP", "CairnStores", "CPosix"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
