import CairnCore
import CairnCrypto
import CairnCheck
import CairnMaintenance
import CairnRestore
import CairnRetention
import CairnTree
import CairnFormat
import CairnRepository
import CairnStorage
import Foundation
import Testing

/// Seeded, repeatable fault injection. A base repository (three snapshots of a small tree, two
/// keys, many small packs) is built once; each case copies it, applies one or two faults, and
/// then requires:
///   1. opening either works or (config damage only) fails with a clear error, never a crash;
///   2. `check --read-data` reports the damage (faults that leave data readable excepted),
///      the same damage with the local cache cold and warm (filled from the pristine copy
///      before the fault: check must never believe it);
///   3. repair index → repair packs → repair snapshots leave a repository check calls healthy;
///   4. every snapshot that was intact before the repair is still there and restores bit-exact,
///      and every rewritten snapshot restores, bit-exact except the paths it marks damaged.
/// A third of the cases run prune on the damaged repository before the repair (it may refuse;
/// it must not lose anything recoverable), another third forget the oldest snapshot after the
/// repair and prune (the repository must stay healthy and the rest restore bit-exact).
/// CAIRN_FAULT_CASES sets the number of cases (default 300), CAIRN_FAULT_SEED the first seed.
@Suite(.serialized) struct FaultInjectionTests {
    static let cases = Int(ProcessInfo.processInfo.environment["CAIRN_FAULT_CASES"] ?? "") ?? 300
    static let firstSeed = UInt64(ProcessInfo.processInfo.environment["CAIRN_FAULT_SEED"] ?? "") ?? 1

    @Test func seededFaults() throws {
        let base = try FaultBase()
        var tally: [String: Int] = [:]
        for seed in Self.firstSeed..<(Self.firstSeed + UInt64(Self.cases)) {
            var c = FaultCase(base: base, seed: seed)
            let outcome = try c.run()
            tally[outcome, default: 0] += 1
        }
        let total = tally.values.reduce(0, +)
        #expect(total == Self.cases)
        let summary = tally.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        print("fault injection: \(total) cases from seed \(Self.firstSeed): \(summary)")
        // Every kind of fault came up (with the default count).
        if Self.cases >= 200 { #expect(tally.keys.count >= 10, "\(summary)") }
    }
}

/// The pristine repository every case starts from, and what each snapshot must restore to.
final class FaultBase: @unchecked Sendable {
    let tmp = TempDir()
    var repoPath: String { tmp.sub("repo") }
    /// snapshot ID → (path inside the snapshot → content).
    var expected: [ID: [String: [UInt8]]] = [:]
    /// snapshot ID → (file path → chunk IDs), (folder path + "/" → tree ID; "/" is the root).
    var blobsOfPath: [ID: [String: [ID]]] = [:]
    /// Where each blob was stored in the pristine repository: the oracle for what a fault
    /// left recoverable.
    var locations: [ID: [(pack: String, entry: BlobEntry)]] = [:]

    init() throws {
        let repo = try Fixtures.newRepository(tmp)
        // A second key with the same password: one damaged key file must not lock anyone out.
        let k = try KeyFile.create(master: repo.key, password: Fixtures.password, parameters: .init(n: 1024, r: 8, p: 1),
                                   hostname: "second", username: "test", created: .now(), random: SystemRandom())
        let kb = try k.encoded()
        try repo.backend.write(.key, SHA256.hash(kb).hex, kb)
        let src = tmp.sub("src")
        var files: [String: [UInt8]] = [
            "empty": [], "one": [7], "small": Fixtures.random(5_000, seed: "small"),
            "mid": Fixtures.random(40_000, seed: "mid"), "big": Fixtures.random(200_000, seed: "big"),
            "zeros": [UInt8](repeating: 0, count: 60_000), "dir/a": Fixtures.random(30_000, seed: "a"),
            "dir/b": Fixtures.random(70_000, seed: "b"), "dir/sub/c": Fixtures.random(12_000, seed: "c"),
            "copy-of-big": Fixtures.random(200_000, seed: "big"),
        ]
        for version in 0..<3 {
            if version > 0 {
                files["mid"] = Fixtures.random(40_000, seed: "mid\(version)")
                files["dir/b"] = Array(files["dir/b"]!.prefix(50_000)) + Fixtures.random(25_000, seed: "b\(version)")
                files["new\(version)"] = Fixtures.random(20_000 * version, seed: "new\(version)")
            }
            for (p, b) in files { Fixtures.write(src + "/" + p, b) }
            _ = try EngineTests.backup(repo, [src])
        }
        let reopened = try Fixtures.reopen(tmp)
        for (id, snap) in try reopened.snapshots().snapshots {
            var contents: [String: [UInt8]] = [:]
            var blobs: [String: [ID]] = ["/": [snap.treeID!]]
            try reopened.walk(snap.treeID!) { path, node in
                if node.type == .file {
                    var bytes: [UInt8] = []
                    try reopened.dump(node) { bytes += $0 }
                    contents[path] = bytes
                    blobs[path] = node.chunks
                } else if let sub = node.subtree {
                    blobs[path + "/"] = [sub]
                }
                return true
            }
            expected[id] = contents
            blobsOfPath[id] = blobs
        }
        for (pack, entries) in try reopened.indexedPacks().packs {
            for e in entries { locations[e.id, default: []].append((pack.hex, e)) }
        }
        precondition(expected.count == 3)
    }
}

/// One seeded case.
struct FaultCase {
    let base: FaultBase
    let seed: UInt64
    let tmp = TempDir()
    var rng: SplitMix
    var repoPath: String { tmp.sub("repo") }

    init(base: FaultBase, seed: UInt64) {
        self.base = base; self.seed = seed; rng = SplitMix(state: seed)
    }

    enum Kind: String, CaseIterable {
        case flipPack, truncatePack, deletePack, flipIndex, truncateIndex, deleteIndex, deleteAllIndex,
             flipSnapshot, truncateSnapshot, deleteSnapshot, flipKey, deleteKey, flipConfig, truncateConfig,
             staleLock, duplicateBlobs, indexPastEnd, twoPackFlips, flipPackHeader
    }

    /// Faults after which every byte still reads: check may call the repository healthy.
    static let benign: Set<Kind> = [.deleteSnapshot, .deleteKey, .staleLock, .duplicateBlobs]

    func files(_ folder: String) -> [String] {
        let root = repoPath + "/" + folder
        return ((try? FileManager.default.subpathsOfDirectory(atPath: root)) ?? [])
            .filter { $0.split(separator: "/").last.map { $0.count == 64 } ?? false }.sorted().map { root + "/" + $0 }
    }

    mutating func pick(_ paths: [String]) -> String { paths[rng.below(paths.count)] }

    mutating func flip(_ path: String, range: Range<Int>? = nil) {
        var b = Fixtures.read(path)!
        guard !b.isEmpty else { return }
        let r = range ?? 0..<b.count
        let i = r.lowerBound + rng.below(r.count)
        b[i] ^= UInt8(1 << rng.below(8))
        Fixtures.write(path, b)
    }

    mutating func truncate(_ path: String) {
        let b = Fixtures.read(path)!
        Fixtures.write(path, Array(b.prefix(rng.below(b.count))))
    }

    /// Applies the fault; returns its kind.
    mutating func inject() throws -> Kind {
        let kind = Kind.allCases[rng.below(Kind.allCases.count)]
        switch kind {
        case .flipPack: flip(pick(files("data")))
        case .twoPackFlips: flip(pick(files("data"))); flip(pick(files("data")))
        case .flipPackHeader:
            let p = pick(files("data"))
            let n = Fixtures.read(p)!.count
            flip(p, range: max(0, n - 200)..<n)   // the sealed header and its length field
        case .truncatePack: truncate(pick(files("data")))
        case .deletePack: try FileManager.default.removeItem(atPath: pick(files("data")))
        case .flipIndex: flip(pick(files("index")))
        case .truncateIndex: truncate(pick(files("index")))
        case .deleteIndex: try FileManager.default.removeItem(atPath: pick(files("index")))
        case .deleteAllIndex: for f in files("index") { try FileManager.default.removeItem(atPath: f) }
        case .flipSnapshot: flip(pick(files("snapshots")))
        case .truncateSnapshot: truncate(pick(files("snapshots")))
        case .deleteSnapshot: try FileManager.default.removeItem(atPath: pick(files("snapshots")))
        case .flipKey: flip(pick(files("keys")))
        case .deleteKey: try FileManager.default.removeItem(atPath: pick(files("keys")))
        case .flipConfig: flip(repoPath + "/config")
        case .truncateConfig: truncate(repoPath + "/config")
        case .staleLock:
            let repo = try open()
            let l = Lock(time: Timestamp(nanoseconds: 1_000_000_000), exclusive: true, hostname: Host.name,
                         username: "ghost", pid: 0x7FFF_FFF0, operation: "backup")
            try repo.saveFile(.lock, try l.encoded(), compress: false)
        case .duplicateBlobs:
            // A writer that never loaded the index stores every blob of a file again.
            let repo = try Repository.open(backend: LocalBackend(path: repoPath), password: Fixtures.password)
            Fixtures.write(tmp.sub("dup/big"), Fixtures.random(200_000, seed: "big"))
            _ = try EngineTests.backup(repo, [tmp.sub("dup")])
        case .indexPastEnd:
            let repo = try open()
            let pack = pick(files("data"))
            let id = ID(hex: String(pack.split(separator: "/").last!))!
            var entries = try repo.readPackHeader(id).entries
            let size = UInt64(Fixtures.read(pack)!.count)
            entries[rng.below(entries.count)].offset = size + UInt64(rng.below(1000))
            try repo.saveFile(.index, IndexFile(packs: [.init(id: id, blobs: entries)]).encode())
        }
        return kind
    }

    /// Whether some pack of the faulted repository still holds a copy of the blob that
    /// authenticates and hashes to its ID (judged from the pristine layout, not by the code
    /// under test).
    func recoverable(_ id: ID, key repo: Repository) -> Bool {
        for loc in base.locations[id] ?? [] {
            let path = repoPath + "/data/" + loc.pack.prefix(2) + "/" + loc.pack
            guard let bytes = Fixtures.read(path), loc.entry.offset + UInt64(loc.entry.storedLength) <= UInt64(bytes.count) else { continue }
            let slice = Array(bytes[Int(loc.entry.offset)..<Int(loc.entry.offset) + Int(loc.entry.storedLength)])
            if let plain = try? slice.withUnsafeBytes({ try BlobCodec.open($0, entry: loc.entry, key: repo.key) }), repo.blobID(plain) == id { return true }
        }
        return false
    }

    func open() throws -> Repository {
        try Repository.open(backend: LocalBackend(path: repoPath), password: Fixtures.password)
    }

    /// Runs the case; returns the fault kind (or kind/outcome) for the tally.
    mutating func run() throws -> String {
        try FileManager.default.copyItem(atPath: base.repoPath, toPath: repoPath)
        // Warm a cache with every index and snapshot file and tree of the pristine copy.
        let cacheFolder = tmp.sub("cache")
        do {
            let warm = try open()
            try warm.attachCache(folder: cacheFolder)
            try warm.loadIndex()
            for (_, snap) in try warm.snapshots().snapshots { try warm.walk(snap.treeID!) { _, _ in true } }
        }
        let kind = try inject()
        let label = "seed \(seed) \(kind)"
        let repo: Repository
        do { repo = try open(); try repo.attachCache(folder: cacheFolder) } catch {
            // Only the config is a single point of failure (as in restic and borg).
            #expect(kind == .flipConfig || kind == .truncateConfig, "\(label): open failed: \(error)")
            #expect("\(error)".count > 10, "\(label): unclear error")
            return kind.rawValue + "(unopenable)"
        }
        let before = try Checker(repository: repo).run(readData: true)
        let cold = try Checker(repository: try open()).run(readData: true)
        if !Self.benign.contains(kind) && kind != .flipConfig && kind != .truncateConfig {
            #expect(!before.healthy, "\(label): check with a warm cache found nothing")
            #expect(!cold.healthy, "\(label): check found nothing")
        }
        let seen = { (r: CheckReport) in Set(r.damage.map { $0.kind + " " + $0.id }) }
        #expect(seen(before) == seen(cold), "\(label): warm cache \(seen(before).sorted()) vs cold \(seen(cold).sorted())")
        // The oracle, taken before any repair touches the store.
        let recoverableBlobs = Set(base.locations.keys.filter { recoverable($0, key: repo) })
        let intactBefore = Set(base.expected.keys).subtracting(before.affected.compactMap { ID(hex: $0.snapshot) })

        // Prune on the damaged repository (a third of the cases): it may refuse, but whatever
        // it does must not cost anything the oracle below calls recoverable.
        let pruneStage = rng.below(3)
        var pruneNote = ""
        if pruneStage == 1 {
            do { _ = try prune(try open(), options: randomPruneOptions()); pruneNote = "+prune" }
            catch { pruneNote = "+prune(refused)" }
        }

        // Repair, in the documented order; damaged key files go with `key remove`.
        let repairer = Repairer(repository: repo)
        _ = try repairer.repairIndex()
        _ = try repairer.repairPacks()
        try repo.loadIndex()
        let snaps = try repairer.repairSnapshots(removeUnreadable: true)
        for d in before.damage where d.kind == "key" { try repo.backend.delete(.key, d.id) }
        _ = try repo.removeLocks(all: false)

        let after = try Checker(repository: try open()).run(readData: true)
        #expect(after.healthy, "\(label): still damaged after repair: \(after.damage.prefix(3).map(\.message))")

        // Prune after the repair (another third): the oldest snapshot is forgotten first so
        // there is data to free; the repository stays healthy and the rest restores below.
        var forgotten: ID? = nil
        if pruneStage == 2 {
            let r = try open()
            if let oldest = try r.snapshots().snapshots.first, try r.snapshots().snapshots.count > 1 {
                try r.removeSnapshots([oldest.0])
                forgotten = oldest.0
            }
            _ = try prune(try open(), options: randomPruneOptions())
            pruneNote = "+forget+prune"
            let checked = try Checker(repository: try open()).run(readData: true)
            #expect(checked.healthy, "\(label): prune after repair left \(checked.damage.prefix(3).map(\.message))")
        }

        // Intact snapshots survive untouched; rewritten ones restore except what they mark.
        let reopened = try open()
        try reopened.loadIndex()
        let present = Dictionary(uniqueKeysWithValues: try reopened.snapshots().snapshots.map { ($0.0, $0.1) })
        let rewritten = Dictionary(uniqueKeysWithValues: snaps.rewritten.compactMap { r in
            r.replacement.flatMap { ID(hex: $0) }.map { ($0, (ID(hex: r.original)!, Set(r.damagedPaths))) }
        })
        for id in intactBefore where present[id] == nil && rewritten.values.allSatisfy({ $0.0 != id }) && id != forgotten {
            // Gone only if its own snapshot file was the damaged or deleted one.
            #expect([.flipSnapshot, .truncateSnapshot, .deleteSnapshot].contains(kind), "\(label): intact snapshot \(id.short) lost")
        }
        for (id, snap) in present {
            let original = rewritten[id]?.0 ?? id
            guard let want = base.expected[original] else {
                // Only the duplicate-blob case adds a snapshot of its own.
                #expect(kind == .duplicateBlobs, "\(label): unexpected snapshot \(id.short)"); continue
            }
            let marked = rewritten[id]?.1 ?? []
            let out = tmp.sub("out-\(id.short)")
            let result = try Restorer(repository: reopened, options: RestoreOptions())
                .restore(node: Node(name: [], type: .directory, mode: 0o755, content: .subtree(snap.treeID!)), displayPath: [], target: out)
            #expect(result.warnings.isEmpty || !marked.isEmpty, "\(label): \(result.warnings.prefix(2))")
            // Nothing recoverable was given up: each marked path lost a blob no pack still holds.
            for m in marked {
                let blobs = base.blobsOfPath[original]?[m] ?? []
                #expect(!blobs.isEmpty && blobs.contains { !recoverableBlobs.contains($0) },
                        "\(label): \(m) marked damaged in \(id.short) though all its blobs were recoverable")
            }
            for (path, bytes) in want {
                let damagedHere = marked.contains(path) || marked.contains { $0.hasSuffix("/") && path.hasPrefix($0) } || marked.contains("/")
                if damagedHere { continue }
                let same = Fixtures.read(out + path) == bytes
                #expect(same, "\(label): \(path) of snapshot \(id.short) differs after repair")
            }
        }
        return kind.rawValue + pruneNote
    }

    mutating func randomPruneOptions() -> PruneOptions {
        [PruneOptions(maxUnused: .percent(0)), PruneOptions(), PruneOptions(maxUnused: .unlimited),
         PruneOptions(maxUnused: .bytes(50_000))][rng.below(4)]
    }
}
