import CairnCore
import CairnCrypto
import CairnStorage
import CairnStores
import Foundation
import Testing

/// What every store must do (the `Backend` contract, docs/stores.md), as one suite run on
/// each store: local, SFTP, S3 (moto), REST (rclone serve restic), `cairn serve`, and the
/// in-memory example of the documentation. Each store is opened through the scheme registry
/// with its wrappers, as the CLI opens it.
enum StoreConformance {
    /// A write that fails part way, on a store of its own (a cut connection, a full disk).
    struct Cut {
        /// The same store as the one under test, whose next large write fails part way.
        var store: any Backend
        /// Whether the file may be left in part under its final name: only where the store
        /// says it does not write atomically and the server indeed writes in place.
        var partialAllowed = false
        /// Whether the same write succeeds afterwards (not on a disk that is still full).
        var writesAgain = true
    }

    static let sizes = [FileType.key: 417, .snapshot: 1_234, .index: 5_000, .lock: 300, .pack: 70_000]

    static func name(_ seed: String) -> String { SHA256.hash(Array(seed.utf8)).hex }
    /// Files are named by their content's SHA-256 (`cairn serve` checks it, as rest-server can).
    static func name(of bytes: [UInt8]) -> String { SHA256.hash(bytes).hex }

    static func bytes(_ n: Int, _ seed: String) -> [UInt8] { Fixtures.random(n, seed: seed) }

    /// Runs every case on `store`, an empty location. `large`: bytes of the large object
    /// (20 MiB: S3 sends it in parts).
    static func run(_ store: any Backend, label: String, large: Int = 20 << 20, cut: Cut? = nil) throws {
        // Wrappers keep the store's own answers.
        #expect(store.writesAtomically == store.unwrapped.writesAtomically, "\(label)")

        // An empty store: nothing listed, of any type; missing files are notFound.
        try store.create()
        for t in FileType.allCases { #expect(try store.list(t).isEmpty, "\(label): \(t) not empty after create") }
        expectNotFound(label, "stat of a missing file") { _ = try store.stat(.snapshot, name("missing")) }
        expectNotFound(label, "read of a missing file") { _ = try store.read(.pack, name("missing")) }
        expectNotFound(label, "ranged read of a missing file") { _ = try store.read(.pack, name("missing"), offset: 10, length: 10) }
        try store.delete(.snapshot, name("missing"))   // deleting a missing file is not an error

        // Writes of every type are listed under their type only, with their sizes.
        let config = bytes(155, "config")
        try store.write(.config, "config", config)
        var written: [FileType: [String: [UInt8]]] = [:]
        for (t, n) in sizes.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            for i in 0..<2 {
                let b = bytes(n + i, "\(label)-\(t)-\(i)")
                let nm = name(of: b)
                try store.write(t, nm, b)
                written[t, default: [:]][nm] = b
            }
        }
        #expect(try store.list(.config) == [FileInfo(name: "config", size: UInt64(config.count))], "\(label)")
        for (t, files) in written {
            let listed = try store.list(t).sorted { $0.name < $1.name }
            let expected = files.map { FileInfo(name: $0.key, size: UInt64($0.value.count)) }.sorted { $0.name < $1.name }
            #expect(listed == expected, "\(label): listing of \(t)")
            for (nm, b) in files {
                #expect(try store.stat(t, nm) == FileInfo(name: nm, size: UInt64(b.count)), "\(label): stat \(t)")
                #expect(try store.read(t, nm) == b, "\(label): read \(t)")
            }
        }
        #expect(try store.read(.config, "config") == config, "\(label)")

        // A second create refuses: a repository is there.
        #expect(throws: (any Error).self, "\(label): create over a repository") { try store.create() }

        // Ranges: offset and length, to the end, past the end.
        let (packName, pack) = written[.pack]!.first!
        #expect(try store.read(.pack, packName, offset: 0, length: 1) == [pack[0]], "\(label)")
        #expect(try store.read(.pack, packName, offset: 1000, length: 5000) == Array(pack[1000..<6000]), "\(label)")
        #expect(try store.read(.pack, packName, offset: 60_000, length: nil) == Array(pack[60_000...]), "\(label)")
        #expect(try store.read(.pack, packName, offset: UInt64(pack.count - 10), length: 10) == Array(pack.suffix(10)), "\(label)")
        expectStorageError(label, "a range past the end") { _ = try store.read(.pack, packName, offset: UInt64(pack.count - 10), length: 20) }
        expectStorageError(label, "an offset past the end") { _ = try store.read(.pack, packName, offset: UInt64(pack.count + 100), length: nil) }

        // Write once: the same name again with the same bytes succeeds and changes nothing.
        try store.write(.pack, packName, pack)
        #expect(try store.read(.pack, packName) == pack, "\(label)")
        #expect(try store.list(.pack).count == written[.pack]!.count, "\(label)")

        // Delete: gone from stat, read and the listing; again is fine.
        let (snapName, _) = written[.snapshot]!.first!
        try store.delete(.snapshot, snapName)
        expectNotFound(label, "stat after delete") { _ = try store.stat(.snapshot, snapName) }
        expectNotFound(label, "read after delete") { _ = try store.read(.snapshot, snapName) }
        #expect(try !store.list(.snapshot).contains { $0.name == snapName }, "\(label)")
        try store.delete(.snapshot, snapName)

        // A large object, whole and in ranges (multipart on S3).
        if large > 0 {
            let big = bytes(large, "\(label)-large"), bigName = name(of: big)
            try store.write(.pack, bigName, big)
            #expect(try store.stat(.pack, bigName).size == UInt64(large), "\(label)")
            #expect(try store.read(.pack, bigName) == big, "\(label): large read")
            let mid = large / 2
            #expect(try store.read(.pack, bigName, offset: UInt64(mid - 100_000), length: 200_000) == Array(big[(mid - 100_000)..<(mid + 100_000)]), "\(label)")
            try store.delete(.pack, bigName)
            expectNotFound(label, "large object after delete") { _ = try store.stat(.pack, bigName) }
        }

        // An interrupted write never leaves part of the file under its final name (where the
        // store writes atomically), and the files before it are untouched.
        if let cut {
            let payload = bytes(1 << 20, "\(label)-cut"), cutName = name(of: payload)
            #expect(throws: (any Error).self, "\(label): the cut write failed") { try cut.store.write(.pack, cutName, payload) }
            let listed = try store.list(.pack).first { $0.name == cutName }
            if cut.partialAllowed {
                // rclone serve restic writes in place: a part may show, which is why the
                // repository journals uploads to stores with writesAtomically == false.
                #expect(!store.writesAtomically, "\(label)")
                print("\(label): after a cut write the store lists \(listed.map { "\($0.size) of \(payload.count) bytes" } ?? "nothing") under its name")
                try store.delete(.pack, cutName)
            } else {
                #expect(listed == nil, "\(label): a cut write is listed: \(String(describing: listed))")
                expectNotFound(label, "stat of a cut write") { _ = try store.stat(.pack, cutName) }
            }
            #expect(try store.read(.pack, packName) == pack, "\(label)")
            if cut.writesAgain {   // the same write, not cut, then succeeds
                try store.write(.pack, cutName, payload)
                #expect(try store.read(.pack, cutName) == payload, "\(label)")
            }
        }
    }

    static func expectNotFound(_ label: String, _ what: String, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("\(label): \(what) did not fail")
        } catch StorageError.notFound {
        } catch {
            Issue.record("\(label): \(what) failed with \(error), not StorageError.notFound")
        }
    }

    static func expectStorageError(_ label: String, _ what: String, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("\(label): \(what) did not fail")
        } catch is StorageError {
        } catch {
            Issue.record("\(label): \(what) failed with \(error), not a StorageError")
        }
    }

    static var inCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// Starts a test server; when it cannot start, fails the test in CI and skips it (saying
    /// why) elsewhere.
    static func server<T>(_ what: String, _ start: () throws -> T) -> T? {
        do { return try start() } catch {
            if inCI { Issue.record("\(what) could not start: \(error)") } else { print("skipped: \(what) could not start: \(error)") }
            return nil
        }
    }

    /// Quick retries for tests.
    static var transfer: TransferSettings {
        var t = TransferSettings()
        t.retries = 2
        t.timeoutSeconds = 60
        t.meter = TransferMeter()
        return t
    }
}

@Suite(.serialized) struct StoreConformanceTests {
    @Test func local() throws {
        let tmp = TempDir()
        let store = try StoreRegistry.standard.open(tmp.sub("repo"), transfer: StoreConformance.transfer)
        #expect(store.layer(LocalBackend.self)?.root == tmp.sub("repo"))
        // A full disk cuts the write: a 512 KiB tmpfs (needs root; skipped elsewhere, failed in CI).
        let small = tmp.sub("small")
        try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: true)
        let mounted = HardeningTests.sh("mount -t tmpfs -o size=512k tmpfs '\(small)'")
        defer { if mounted.status == 0 { _ = HardeningTests.sh("umount '\(small)'") } }
        var cut: StoreConformance.Cut?
        if mounted.status == 0 {
            // The same repository, but its data/ folder on the small file system.
            try FileManager.default.createDirectory(atPath: tmp.sub("repo"), withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: tmp.sub("repo/data"), withDestinationPath: small)
            cut = StoreConformance.Cut(store: try StoreRegistry.standard.open(tmp.sub("repo"), transfer: StoreConformance.transfer), writesAgain: false)
        } else if StoreConformance.inCI {
            Issue.record("cannot mount a small tmpfs for the cut write: \(mounted.out)")
        } else {
            print("local: the cut write is not tried (cannot mount a tmpfs: \(mounted.out))")
        }
        // The large object does not fit the small data folder: it goes in the case where there is no cut.
        try StoreConformance.run(store, label: "local", large: cut == nil ? 20 << 20 : 0, cut: cut)
        if cut != nil {
            // The leftovers of the cut write were removed, not just hidden.
            let left = try FileManager.default.subpathsOfDirectory(atPath: small).filter { $0.contains(LocalBackend.tempPrefix) }
            #expect(left.isEmpty, "\(left)")
            let other = TempDir()
            try StoreConformance.run(try StoreRegistry.standard.open(other.sub("repo"), transfer: StoreConformance.transfer),
                                     label: "local (large)", large: 20 << 20)
        }
    }

    @Test func memoryExampleOfTheDocumentation() throws {
        let registry = StoreRegistry()
        registry.register(StoreScheme(name: "memory", usage: "memory:NAME") { name, _, _ in MemoryStore(name: name) })
        let store = try registry.open("memory:test", transfer: StoreConformance.transfer)
        #expect(store.unwrapped is MemoryStore && store.location == "memory:test")
        try StoreConformance.run(store, label: "memory")
        // Unknown schemes are listed from the registry.
        #expect(throws: StoreLocationError.self) { try registry.open("nope://x") }
        do { _ = try registry.open("nope://x") } catch {
            #expect("\(error)".contains("supported are memory:NAME."), "\(error)")
        }
        // docs/stores.md shows this very code.
        let source = try String(contentsOfFile: Fixtures.packageRoot + "/Tests/CairnTests/MemoryStore.swift", encoding: .utf8)
        let doc = try String(contentsOfFile: Fixtures.packageRoot + "/docs/stores.md", encoding: .utf8)
        let example = source.components(separatedBy: "// BEGIN EXAMPLE\n")[1].components(separatedBy: "// END EXAMPLE")[0]
        #expect(doc.contains("```swift\n" + example + "```"), "docs/stores.md no longer shows Tests/CairnTests/MemoryStore.swift")
    }

    @Test func sftp() throws {
        guard let server = StoreConformance.server("sshd", { try SSHServer() }) else { return }
        let location = "sftp:\(server.user)@127.0.0.1:\(server.port):\(server.tmp.sub("conf"))"
        let store = try StoreRegistry.standard.open(location, transfer: StoreConformance.transfer,
                                                    environment: ["CAIRN_SFTP_COMMAND": server.command])
        // The cut: ssh whose input ends after 300 kB, as a link that drops mid-upload (head
        // unbuffered: it would otherwise hold back the small packets of the handshake).
        let script = server.tmp.sub("cut-ssh.sh")
        try "#!/bin/sh\nstdbuf -o0 head -c 300000 | \(server.command.replacingOccurrences(of: " -s sftp", with: "")) -s sftp\n"
            .write(toFile: script, atomically: true, encoding: .utf8)
        var once = StoreConformance.transfer
        once.retries = 0
        let cutStore = try StoreRegistry.standard.open(location, transfer: once, environment: ["CAIRN_SFTP_COMMAND": "/bin/sh " + script])
        try StoreConformance.run(store, label: "sftp", cut: .init(store: cutStore))
    }

    @Test func s3() throws {
        guard let server = StoreConformance.server("moto_server", { try MotoServer() }) else { return }
        let store = try StoreRegistry.standard.open(server.url("conformance/some/prefix"), transfer: StoreConformance.transfer,
                                                    environment: server.environment())
        #expect(store is any MultipartBackend)   // forwarded through the wrappers
        guard let proxy = StoreConformance.server("fault proxy", { try FaultProxy(upstreamPort: server.port, cutAfter: 300_000) }) else { return }
        var once = StoreConformance.transfer
        once.retries = 0
        let cutStore = try StoreRegistry.standard.open("s3:http://127.0.0.1:\(proxy.port)/conformance/some/prefix", transfer: once,
                                                       environment: server.environment())
        try StoreConformance.run(store, label: "s3", cut: .init(store: cutStore))
    }

    @Test func restThroughRclone() throws {
        guard let server = StoreConformance.server("rclone serve restic", { try RcloneServer() }) else { return }
        let store = try StoreRegistry.standard.open(server.url("conformance"), transfer: StoreConformance.transfer)
        #expect(!store.writesAtomically)
        guard let proxy = StoreConformance.server("fault proxy", { try FaultProxy(upstreamPort: server.port, cutAfter: 300_000) }) else { return }
        var once = StoreConformance.transfer
        once.retries = 0
        let cutStore = try StoreRegistry.standard.open(server.url("conformance").replacingOccurrences(of: ":\(server.port)/", with: ":\(proxy.port)/"),
                                                       transfer: once)
        try StoreConformance.run(store, label: "rest (rclone)", cut: .init(store: cutStore, partialAllowed: true))
    }

    @Test func cairnServe() throws {
        guard let server = StoreConformance.server("cairn serve", { try CairnServe() }) else { return }
        let store = try StoreRegistry.standard.open(server.url(), transfer: StoreConformance.transfer)
        guard let proxy = StoreConformance.server("fault proxy", { try FaultProxy(upstreamPort: server.port, cutAfter: 300_000) }) else { return }
        var once = StoreConformance.transfer
        once.retries = 0
        let cutStore = try StoreRegistry.standard.open(server.url().replacingOccurrences(of: ":\(server.port)/", with: ":\(proxy.port)/"),
                                                       transfer: once)
        // cairn serve takes the whole body before it writes (atomically, on a LocalBackend),
        // though a REST store cannot promise that for every server.
        try StoreConformance.run(store, label: "cairn serve", cut: .init(store: cutStore))
    }
}
