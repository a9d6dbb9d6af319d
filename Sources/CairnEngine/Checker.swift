import CairnCore
import CairnCrypto
import CairnFormat
import CairnRepository
import CairnStorage

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
        for (id, e) in try repo.loadIndex() { damage("index", id.hex, "\(e)") }
        let index = repo.index
        let stored = Dictionary(try repo.backend.list(.pack).compactMap { f in ID(hex: f.name).map { ($0, f.size) } }, uniquingKeysWith: { a, _ in a })
        let indexed = index.byPack()
        for (pack, blobs) in indexed where stored[pack] == nil {
            damage("pack", pack.hex, "listed in the index but missing from the store (\(blobs.count) blobs)")
            for b in blobs { badBlobs.insert(b.id) }
        }
        let unindexed = stored.keys.filter { !index.hasPack($0) }
        if !unindexed.isEmpty {
            report.hints.append("\(unindexed.count) pack(s) not in any index (left by an interrupted backup; the next backup indexes and reuses them)")
        }
        // Pack headers against the index, or whole packs with --read-data.
        for (pack, blobs) in indexed.sorted(by: { $0.key < $1.key }) {
            guard let size = stored[pack] else { continue }
            if Cancellation.requested { throw RepositoryError.interrupted }
            progress.update { $0.files += 1; $0.current = pack.short }
            report.packsChecked += 1
            if readData { checkPackData(pack, size: size, indexed: blobs) } else { checkPackHeader(pack, size: size, indexed: blobs) }
        }
        try checkSnapshots()
        return report
    }

    func checkPackHeader(_ pack: ID, size: UInt64, indexed: [BlobEntry]) {
        do {
            let h = try repo.readPackHeader(pack, size: size)
            let inHeader = Set(h.entries)
            for b in indexed where !inHeader.contains(b) {
                damage("pack", pack.hex, "blob \(b.id.short) is in the index but not in the pack header at that place")
                badBlobs.insert(b.id)
            }
        } catch {
            damage("pack", pack.hex, "header unreadable: \(error)")
            for b in indexed { badBlobs.insert(b.id) }
        }
    }

    func checkPackData(_ pack: ID, size: UInt64, indexed: [BlobEntry]) {
        let bytes: [UInt8]
        do { bytes = try repo.backend.read(.pack, pack.hex) } catch {
            damage("pack", pack.hex, "unreadable: \(error)"); for b in indexed { badBlobs.insert(b.id) }; return
        }
        report.bytesRead += UInt64(bytes.count)
        progress.addBytes(bytes.count)
        if SHA256.hash(bytes) != pack { damage("pack", pack.hex, "content does not match its SHA-256 name") }
        var entries = indexed
        do { entries = try PackHeader.parse(pack: bytes, key: repo.key).entries }
        catch { damage("pack", pack.hex, "header unreadable: \(error); checking blobs at their indexed places") }
        let headerSet = Set(entries)
        for b in indexed where !headerSet.contains(b) {
            damage("pack", pack.hex, "blob \(b.id.short) is in the index but not in the pack header at that place")
        }
        for b in Set(entries).union(indexed) {
            report.blobsChecked += 1
            let end = b.offset + UInt64(b.storedLength)
            guard end <= UInt64(bytes.count) else {
                damage("blob", b.id.hex, "\(b.type) blob in pack \(pack.short) extends past the end of the pack"); badBlobs.insert(b.id); continue
            }
            do {
                let plain = try bytes.withUnsafeBytes { try BlobCodec.open(UnsafeRawBufferPointer(rebasing: $0[Int(b.offset)..<Int(end)]), entry: b, key: repo.key) }
                if repo.blobID(plain) != b.id { throw RepositoryError.damaged("content does not match its ID") }
            } catch {
                damage("blob", b.id.hex, "\(b.type) blob in pack \(pack.short): \(error)")
                badBlobs.insert(b.id)
            }
        }
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
