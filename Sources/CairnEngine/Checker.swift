import CairnCore
import CairnCrypto
import CairnFormat
import CairnRepository
import CairnStorage
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
    public var hints: [String] = []
    public var packsChecked = 0
    public var blobsChecked = 0
    public var bytesRead: UInt64 = 0
    public var snapshots = 0
    public var trees = 0
    public var healthy: Bool { damage.isEmpty }
}

/// Verifies that config, keys, index, pack headers and snapshots agree; with `readData`, also
/// reads every pack, checks its SHA-256 name and authenticates and re-hashes every blob.
public final class Checker {
    let repo: Repository
    public let progress: OperationProgress
    var report = CheckReport()
    var badBlobs = Set<ID>()

    public init(repository: Repository, progress: OperationProgress = OperationProgress()) { repo = repository; self.progress = progress }

    func damage(_ kind: String, _ id: String, _ msg: String) { report.damage.append(Damage(kind: kind, id: id, message: msg)) }

    public func run(readData: Bool) throws -> CheckReport {
        for k in try repo.backend.list(.key) {
            do { _ = try KeyFile.decode(try repo.backend.read(.key, k.name)) }
            catch { damage("key", k.name, "\(error)") }
        }
        var listed: [ID: [BlobEntry]] = [:]
        let bad = try repo.loadIndex { _, file in
            for p in file.packs { listed[p.id, default: []].append(contentsOf: p.blobs) }
        }
        for (id, e) in bad { damage("index", id.hex, "\(e)") }
        let indexed = listed.mapValues { Array(Set($0)) }
        let stored = Dictionary(try repo.backend.list(.pack).compactMap { f in ID(hex: f.name).map { ($0, f.size) } }, uniquingKeysWith: { a, _ in a })
        for (pack, blobs) in indexed where stored[pack] == nil {
            damage("pack", pack.hex, "listed in the index but missing from the store (\(blobs.count) blobs)")
            for b in blobs { badBlobs.insert(b.id) }
        }
        let unindexed = stored.keys.filter { indexed[$0] == nil }
        if !unindexed.isEmpty {
            report.hints.append("\(unindexed.count) pack(s) not in any index (left by an interrupted backup; the next backup indexes and reuses them)")
        }
        // Pack headers against the index, or whole packs with --read-data, in parallel.
        let work = indexed.sorted(by: { $0.key < $1.key }).compactMap { p in stored[p.key].map { (p.key, $0, p.value) } }
        let repo = self.repo, progress = self.progress
        let verdicts = Locked([PackVerdict]())
        DispatchQueue.concurrentPerform(iterations: work.count) { i in
            if Cancellation.requested { return }
            let (pack, size, blobs) = work[i]
            progress.update { $0.files += 1; $0.current = pack.short }
            let v = readData ? PackVerdict.readData(repo, pack, size: size, indexed: blobs)
                             : PackVerdict.header(repo, pack, size: size, indexed: blobs)
            progress.addBytes(Int(v.bytes))
            verdicts.withLock { $0.append(v) }
        }
        if Cancellation.requested { throw RepositoryError.interrupted }
        for v in verdicts.withLock({ $0 }).sorted(by: { $0.pack < $1.pack }) {
            report.packsChecked += 1
            report.blobsChecked += v.blobs
            report.bytesRead += v.bytes
            report.damage += v.damage
            badBlobs.formUnion(v.bad)
        }
        try checkSnapshots()
        return report
    }

    func checkSnapshots() throws {
        let (snaps, bad) = try repo.snapshots()
        for (id, e) in bad { damage("snapshot", id.hex, "\(e)") }
        report.snapshots = snaps.count
        var treeOK: [ID: Bool] = [:]   // tree ID → whole subtree restores
        for (sid, snap) in snaps {
            guard let root = snap.treeID else { continue }
            walk(root, path: "", snapshot: sid, memo: &treeOK)
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
                let plain = try bytes.withUnsafeBytes { try BlobCodec.open(UnsafeRawBufferPointer(rebasing: $0[Int(b.offset)..<Int(end)]), entry: b, key: repo.key) }
                if repo.blobID(plain) != b.id { throw RepositoryError.damaged("content does not match its ID") }
            } catch {
                v.add("blob", b.id.hex, "\(b.type) blob in pack \(pack.short): \(error)")
                v.bad.insert(b.id)
            }
        }
        return v
    }
}
