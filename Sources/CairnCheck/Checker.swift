import CairnCore
import CairnCrypto
import CairnFormat
import CairnRepository
import CairnStorage
import CairnTree
import Dispatch

/// One problem `check` found.
public struct Damage: Sendable, Codable {
    public var kind: String      // config, key, index, snapshot, pack, blob, tree
    public var id: String
    public var message: String
}

/// A path that would not restore fully.
public struct AffectedPath: Sendable, Codable {
    public var snapshot: String
    public var path: String
    public var blobs: [String]
}

public struct CheckReport: Sendable, Codable {
    public var damage: [Damage] = []
    public var affected: [AffectedPath] = []
    /// Paths a repair already marked damaged (flag bit 0): known, not new damage.
    public var marked: [AffectedPath] = []
    public var hints: [String] = []
    public var packsChecked = 0
    /// Packs whose every byte was read (all of them with --read-data, a slice with a subset).
    public var packsRead = 0
    public var blobsChecked = 0
    public var bytesRead: UInt64 = 0
    public var snapshots = 0
    public var trees = 0
    public var healthy: Bool { damage.isEmpty }
}

/// What `check` reads.
public struct CheckOptions: Sendable {
    public enum DataSubset: Sendable, Equatable {
        /// Pack headers only (structure).
        case none
        /// Every pack, whole.
        case all
        /// Packs whose name's first four bytes (big-endian) modulo `of` equal `n - 1`: the
        /// same slice every time, so n = 1...of in turn read the whole repository.
        case slice(n: Int, of: Int)
        /// A random choice of packs: this fraction of them (0...1], at least one.
        case fraction(Double)
        /// A random choice of packs totalling at least this many bytes.
        case bytes(UInt64)
    }
    public var readData: DataSubset = .none
    /// Only these snapshots: their trees are walked and every pack holding a blob they need is
    /// read whole; other packs are not looked at.
    public var snapshots: [ID]? = nil
    public var random: any RandomSource = SystemRandom()
    public init(readData: DataSubset = .none, snapshots: [ID]? = nil) { self.readData = readData; self.snapshots = snapshots }

    /// Parses `N/M`, `P%` or a size (`500M`, `2G`, bytes).
    public static func parseSubset(_ s: String) throws -> DataSubset {
        if let slash = s.firstIndex(of: "/") {
            guard let n = Int(s[..<slash]), let m = Int(s[s.index(after: slash)...]), m >= 1, n >= 1, n <= m else {
                throw RepositoryError.invalidArgument("--read-data-subset \(s): N/M needs 1 <= N <= M")
            }
            return .slice(n: n, of: m)
        }
        if s.hasSuffix("%") {
            guard let p = Double(s.dropLast()), p > 0, p <= 100 else {
                throw RepositoryError.invalidArgument("--read-data-subset \(s): a percentage must be in (0, 100]")
            }
            return .fraction(p / 100)
        }
        guard let size = parseSize(s), size > 0 else {
            throw RepositoryError.invalidArgument("--read-data-subset \(s): give N/M, a percentage (5%) or a size (500M, 2G)")
        }
        return .bytes(size)
    }

    /// `123`, `10K`, `500M`, `2G`, `1T` (binary multiples; a trailing `B`/`iB` is accepted).
    public static func parseSize(_ s: String) -> UInt64? {
        var t = s.uppercased()
        if t.hasSuffix("IB") { t.removeLast(2) } else if t.hasSuffix("B") { t.removeLast() }
        let units: [Character: UInt64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var mult: UInt64 = 1
        if let u = t.last, let m = units[u] { mult = m; t.removeLast() }
        guard let v = Double(t), v >= 0, v * Double(mult) < 1.8e19 else { return nil }
        return UInt64(v * Double(mult))
    }
}

/// Verifies that config, keys, index, pack headers and snapshots agree; with a data subset,
/// also reads those packs whole, checks their SHA-256 names and authenticates and re-hashes
/// every blob in them.
public final class Checker {
    let repo: Repository
    public let progress: OperationProgress
    var report = CheckReport()
    var badBlobs = Set<ID>()

    /// Check trusts nothing but the store: from here on the repository reads every file and
    /// tree from it, and the local cache is only refreshed from what was read (§15.1).
    public init(repository: Repository, progress: OperationProgress = OperationProgress()) {
        repo = repository; self.progress = progress
        repository.cacheUse = .refreshOnly
    }

    func damage(_ kind: String, _ id: String, _ msg: String) { report.damage.append(Damage(kind: kind, id: id, message: msg)) }

    public func run(readData: Bool) throws -> CheckReport {
        try run(CheckOptions(readData: readData ? .all : .none))
    }

    public func run(_ options: CheckOptions) throws -> CheckReport {
        for k in try repo.backend.list(.key) {
            do {
                let bytes = try repo.backend.read(.key, k.name)
                if SHA256.hash(bytes).hex != k.name { throw RepositoryError.damaged("content does not match its SHA-256 name") }
                _ = try KeyFile.decode(bytes)
            } catch { damage("key", k.name, "\(error)") }
        }
        let listing = try repo.indexedPacks()
        for (id, e) in listing.bad { damage("index", id.hex, "\(e)") }
        if !listing.superseded.isEmpty {
            report.hints.append("\(listing.superseded.count) index file(s) superseded by another (left by an interrupted repair or prune); ignored, `cairn repair index` or `cairn prune` deletes them")
        }
        let indexed = listing.packs
        let stored = Dictionary(try repo.backend.list(.pack).compactMap { f in ID(hex: f.name).map { ($0, f.size) } }, uniquingKeysWith: { a, _ in a })
        if options.readData == .all { progress.update { $0.totalBytes = stored.values.reduce(0, +) } }
        var goneSuperseded = 0
        for (pack, blobs) in indexed where stored[pack] == nil {
            // Only a superseded index file still names it (put back, or on a store that lists
            // deleted files late): a note; a snapshot that needs one of its blobs is damaged
            // and named by the tree walk below.
            if listing.fromSuperseded.contains(pack) { goneSuperseded += 1 }
            else { damage("pack", pack.hex, "listed in the index but missing from the store (\(blobs.count) blobs)") }
            for b in blobs { badBlobs.insert(b.id) }
        }
        if goneSuperseded > 0 {
            report.hints.append("\(goneSuperseded) pack(s) named only by superseded index files are gone from the store; `cairn prune` or `cairn repair index` drops them")
        }
        // Every file under data/ is checked, indexed or not: a pack no index lists must still
        // be a whole pack under its SHA-256 name (its header opens; with read-data, every byte).
        let unindexed = stored.keys.filter { indexed[$0] == nil }
        if !unindexed.isEmpty {
            report.hints.append("\(unindexed.count) pack(s) not in any index (left by an interrupted backup or prune; the next backup indexes and reuses them, the next prune deletes the unused ones)")
        }
        var work = indexed.sorted(by: { $0.key < $1.key }).compactMap { p in stored[p.key].map { (p.key, $0, p.value) } }
        if options.snapshots == nil {
            work += unindexed.sorted().map { ($0, stored[$0]!, [BlobEntry]()) }
        }
        var readWhole: Set<ID>
        if let only = options.snapshots {
            // Only the packs the chosen snapshots need, each read whole.
            let needed = try neededBlobs(only)
            var packs = Set<ID>()
            for (t, ids) in [(BlobType.tree, needed.trees), (.data, needed.data)] {
                for id in ids { if let loc = repo.lookup(t, id) { packs.insert(loc.pack) } }
            }
            work = work.filter { packs.contains($0.0) }
            readWhole = packs
        } else {
            readWhole = Self.choose(options.readData, packs: work.map { ($0.0, $0.1) }, random: options.random)
        }
        // Pack headers against the index, or whole packs, in parallel.
        let repo = self.repo, progress = self.progress
        let verdicts = Locked([PackVerdict]())
        let whole = readWhole, jobs = work, inNoIndex = Set(unindexed)
        DispatchQueue.concurrentPerform(iterations: jobs.count) { i in
            if repo.cancellation.isCancelled { return }
            let (pack, size, blobs) = jobs[i]
            progress.update { $0.files += 1; $0.current = pack.short }
            var v = whole.contains(pack) ? PackVerdict.readData(repo, pack, size: size, indexed: blobs)
                                         : PackVerdict.header(repo, pack, size: size, indexed: blobs)
            if inNoIndex.contains(pack) {
                for i in v.damage.indices { v.damage[i].message += " (a pack in no index: `cairn repair packs` or `cairn prune` removes it)" }
            }
            progress.addBytes(Int(v.bytes))
            verdicts.withLock { $0.append(v) }
        }
        try repo.checkCancelled()
        for v in verdicts.withLock({ $0 }).sorted(by: { $0.pack < $1.pack }) {
            report.packsChecked += 1
            if whole.contains(v.pack) { report.packsRead += 1 }
            report.blobsChecked += v.blobs
            report.bytesRead += v.bytes
            report.damage += v.damage
            badBlobs.formUnion(v.bad)
        }
        try checkSnapshots(only: options.snapshots)
        return report
    }

    /// The packs a data subset reads whole.
    public static func choose(_ subset: CheckOptions.DataSubset, packs: [(ID, UInt64)], random: any RandomSource) -> Set<ID> {
        switch subset {
        case .none: return []
        case .all: return Set(packs.map(\.0))
        case .slice(let n, let m):
            return Set(packs.filter { p in
                let b = p.0.bytes
                let v = UInt32(b[0]) << 24 | UInt32(b[1]) << 16 | UInt32(b[2]) << 8 | UInt32(b[3])
                return Int(v % UInt32(m)) == n - 1
            }.map(\.0))
        case .fraction(let f):
            guard !packs.isEmpty else { return [] }
            let want = max(1, Int((Double(packs.count) * f).rounded(.up)))
            return Set(shuffled(packs, random).prefix(want).map(\.0))
        case .bytes(let total):
            var chosen = Set<ID>(), sum: UInt64 = 0
            for p in shuffled(packs, random) where sum < total { chosen.insert(p.0); sum += p.1 }
            return chosen
        }
    }

    static func shuffled<T>(_ a: [T], _ random: any RandomSource) -> [T] {
        var a = a
        guard a.count > 1 else { return a }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            let r = random.bytes(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            a.swapAt(i, Int(r % UInt64(i + 1)))
        }
        return a
    }

    /// Every tree and data blob the given snapshots reference (as far as their trees load).
    func neededBlobs(_ snapshots: [ID]) throws -> (trees: Set<ID>, data: Set<ID>) {
        let roots = try snapshots.compactMap { try repo.loadSnapshot($0).treeID }
        let used = try repo.usedBlobs(roots, failed: { _, _ in })   // unreadable trees are reported elsewhere
        return (used.trees, used.data)
    }

    func checkSnapshots(only: [ID]?) throws {
        let (all, bad) = try repo.snapshots()
        let snaps = only.map { ids in all.filter { ids.contains($0.0) } } ?? all
        for (id, e) in bad where only?.contains(id) ?? true { damage("snapshot", id.hex, "\(e)") }
        report.snapshots = snaps.count
        var treeOK: [ID: Bool] = [:]   // tree ID → whole subtree restores
        for (sid, snap) in snaps {
            guard let root = snap.treeID else { continue }
            try LargeStack.run { walk(root, path: "", snapshot: sid, memo: &treeOK) }
        }
    }

    /// Returns whether everything below `id` is intact, recording affected paths.
    @discardableResult
    func walk(_ id: ID, path: String, snapshot: ID, memo: inout [ID: Bool]) -> Bool {
        if let ok = memo[id], ok { return true }
        let tree: Tree
        do {
            guard repo.hasBlob(.tree, id), !badBlobs.contains(id) else { throw RepositoryError.blobNotFound(.tree, id) }
            tree = try repo.loadTree(id)
        } catch {
            if memo[id] == nil { damage("tree", id.hex, "\(error)") }
            memo[id] = false
            report.affected.append(AffectedPath(snapshot: snapshot.hex, path: path.isEmpty ? "/" : path, blobs: [id.hex]))
            return false
        }
        if memo[id] == nil { report.trees += 1 }
        var ok = true
        for n in tree.nodes {
            let p = path + "/" + n.nameString
            if n.flags & 1 != 0 { report.marked.append(AffectedPath(snapshot: snapshot.hex, path: p, blobs: [])) }
            switch n.content {
            case .chunks(let ids):
                let missing = ids.filter { badBlobs.contains($0) || !repo.hasBlob(.data, $0) }
                if !missing.isEmpty {
                    ok = false
                    for m in missing where !badBlobs.contains(m) && memo[m] == nil {
                        memo[m] = false
                        damage("blob", m.hex, "data blob referenced by \(p) is not in the index")
                    }
                    report.affected.append(AffectedPath(snapshot: snapshot.hex, path: p, blobs: missing.map(\.hex)))
                }
            case .subtree(let sub):
                if !walk(sub, path: p, snapshot: snapshot, memo: &memo) { ok = false }
            case .none: break
            }
        }
        memo[id] = ok
        return ok
    }
}

/// What checking one pack found. Pure: many run in parallel.
struct PackVerdict: Sendable {
    var pack: ID
    var damage: [Damage] = []
    var bad = Set<ID>()
    var blobs = 0
    var bytes: UInt64 = 0

    mutating func add(_ kind: String, _ id: String, _ msg: String) { damage.append(Damage(kind: kind, id: id, message: msg)) }

    /// Structure only: the pack's header must list every indexed blob at its indexed place.
    static func header(_ repo: Repository, _ pack: ID, size: UInt64, indexed: [BlobEntry]) -> PackVerdict {
        var v = PackVerdict(pack: pack)
        do {
            let inHeader = Set(try repo.readPackHeader(pack, size: size).entries)
            for b in indexed where !inHeader.contains(b) {
                v.add("pack", pack.hex, "blob \(b.id.short) is in the index but not in the pack header at that place")
                v.bad.insert(b.id)
            }
        } catch {
            v.add("pack", pack.hex, "header unreadable: \(error)")
            for b in indexed { v.bad.insert(b.id) }
        }
        return v
    }

    /// Every byte: SHA-256 name, header, and each blob authenticated and re-hashed.
    static func readData(_ repo: Repository, _ pack: ID, size: UInt64, indexed: [BlobEntry]) -> PackVerdict {
        var v = PackVerdict(pack: pack)
        let bytes: [UInt8]
        do { bytes = try repo.backend.read(.pack, pack.hex) } catch {
            v.add("pack", pack.hex, "unreadable: \(error)"); for b in indexed { v.bad.insert(b.id) }; return v
        }
        v.bytes = UInt64(bytes.count)
        if SHA256.hash(bytes) != pack { v.add("pack", pack.hex, "content does not match its SHA-256 name") }
        var entries = indexed
        do { entries = try PackHeader.parse(pack: bytes, key: repo.key).entries }
        catch { v.add("pack", pack.hex, "header unreadable: \(error); checking blobs at their indexed places") }
        let headerSet = Set(entries)
        for b in indexed where !headerSet.contains(b) {
            v.add("pack", pack.hex, "blob \(b.id.short) is in the index but not in the pack header at that place")
        }
        for b in headerSet.union(indexed).sorted(by: { $0.offset < $1.offset }) {
            v.blobs += 1
            let end = b.offset + UInt64(b.storedLength)
            guard end <= UInt64(bytes.count) else {
                v.add("blob", b.id.hex, "\(b.type) blob in pack \(pack.short) extends past the end of the pack"); v.bad.insert(b.id); continue
            }
            do {
                _ = try repo.openBlob(b, inPack: bytes)
            } catch {
                v.add("blob", b.id.hex, "\(b.type) blob in pack \(pack.short): \(error)")
                v.bad.insert(b.id)
            }
        }
        return v
    }
}
