import CairnCore
import CairnFormat
import CairnRepository
import CairnStorage

extension Repairer {
    public struct SnapshotResult: Sendable, Codable {
        public struct Rewritten: Sendable, Codable {
            public var original: String
            /// The replacement (absent in a dry run).
            public var replacement: String?
            /// Files kept without their missing chunks, and directories (ending in `/`) that
            /// became empty; all are marked damaged in the new snapshot.
            public var damagedPaths: [String]
        }
        public var rewritten: [Rewritten] = []
        /// Snapshots that needed nothing.
        public var intact = 0
        /// Snapshot files that could not be read at all (left in place unless removed).
        public var unreadable: [String] = []
        /// Unreadable snapshot files deleted (with removeUnreadable).
        public var removed: [String] = []
        /// Blobs copied from the --from repository instead of being given up.
        public var fetched = 0
        public var dryRun = false
    }

    /// Rewrites snapshots whose trees reference blobs the index does not have: a file missing
    /// chunks keeps the chunks that exist and is marked damaged; a directory whose tree is
    /// missing becomes an empty directory marked damaged. A missing blob that `source` (a
    /// repository with the same blob-ID key, such as a copy of this one) holds is copied from
    /// it instead. The new snapshot is written first (tagged `repaired`, `original` naming the
    /// old one), then the old one is deleted. Run `repair packs` first so damaged blobs are no
    /// longer indexed.
    ///
    /// With `removeUnreadable`, snapshot files that do not match their name or do not
    /// authenticate (garbage to every key holder; not files the store failed to read) are deleted.
    public func repairSnapshots(_ only: [ID]? = nil, from source: Repository? = nil, dryRun: Bool = false,
                                removeUnreadable: Bool = false) throws -> SnapshotResult {
        if let source {
            let probe: [UInt8] = Array("cairn blob-id key probe".utf8)
            guard source.blobID(probe) == repo.blobID(probe) else {
                throw RepositoryError.invalidArgument("--from: that repository has a different blob-ID key, so its blobs cannot stand in for this one's (it must be a copy of this repository)")
            }
        }
        var result = SnapshotResult(dryRun: dryRun)
        let (all, bad) = try repo.snapshots()
        let unreadable = bad.filter { only?.contains($0.0) ?? true }
        result.unreadable = unreadable.map(\.0.hex)
        if removeUnreadable && !dryRun {
            for (id, error) in unreadable where !(error is StorageError) {
                do { try repo.backend.delete(.snapshot, id.hex) } catch StorageError.notFound {}
                repo.cache?.dropFile(.snapshot, id)
                result.removed.append(id.hex)
            }
        }
        let snaps = only.map { ids in all.filter { ids.contains($0.0) } } ?? all
        var rewriter = TreeRewriter(repo: repo, source: source, dryRun: dryRun)
        for (sid, snap) in snaps {
            try repo.checkCancelled()
            let root = snap.treeID!
            let r = try rewriter.rewrite(root)
            guard r.changed else { result.intact += 1; continue }
            var entry = SnapshotResult.Rewritten(original: sid.hex, damagedPaths: r.paths.map { $0.isEmpty ? "/" : $0 })
            if !dryRun {
                try repo.flush()   // new trees and copied blobs durable before the snapshot
                var s = snap
                s.tree = r.id.hex
                if !s.tags.contains("repaired") { s.tags.append("repaired") }
                s.original = s.original ?? sid.hex
                let newID = try repo.saveSnapshot(s)
                entry.replacement = newID.hex
                if newID != sid {
                    do { try repo.backend.delete(.snapshot, sid.hex) } catch StorageError.notFound {}
                    repo.cache?.dropFile(.snapshot, sid)
                }
            }
            result.rewritten.append(entry)
        }
        result.fetched = rewriter.fetched
        if !dryRun { try repo.flush() }   // blobs copied for snapshots that needed no rewrite
        return result
    }
}

/// Rewrites trees bottom-up, memoized by tree ID (snapshots share most of their trees).
struct TreeRewriter {
    struct Rewritten { var id: ID; var changed: Bool; var paths: [String] }
    let repo: Repository
    let source: Repository?
    let dryRun: Bool
    var memo: [ID: Rewritten?] = [:]
    var fetched = 0
    var copied = Set<ID>()
    var emptyTree: ID?

    init(repo: Repository, source: Repository?, dryRun: Bool) {
        self.repo = repo; self.source = source; self.dryRun = dryRun
        repo.cacheUse = .refreshOnly   // what is damaged in the store, not what the cache remembers (§15.1)
    }

    /// The tree's replacement; paths are relative to it ("" is the tree itself).
    mutating func rewrite(_ id: ID) throws -> Rewritten {
        if let m = memo[id] {
            if let m { return m }
            return Rewritten(id: try empty(), changed: true, paths: [""])
        }
        guard present(.tree, id), let tree = try? repo.loadTree(id) else {
            memo[id] = .some(nil)
            return Rewritten(id: try empty(), changed: true, paths: [""])
        }
        var nodes: [Node] = []
        var changed = false
        var paths: [String] = []
        for n in tree.nodes {
            let name = "/" + n.nameString
            var m = n
            switch n.content {
            case .chunks(let ids):
                let kept = ids.filter { present(.data, $0) }
                if kept.count != ids.count {
                    m.content = .chunks(kept)
                    m.size = kept.reduce(0) { $0 + UInt64(repo.lookup(.data, $1)?.entry.plainLength ?? 0) }
                    m.flags |= 1
                    changed = true
                    paths.append(name)
                }
            case .subtree(let sub):
                let r = try rewrite(sub)
                if r.changed {
                    m.content = .subtree(r.id)
                    if r.paths.contains("") { m.flags |= 1 }
                    changed = true
                    paths += r.paths.map { $0.isEmpty ? name + "/" : name + $0 }
                }
            case .none: break
            }
            nodes.append(m)
        }
        let out = Rewritten(id: changed && !dryRun ? try repo.saveTree(Tree(nodes: nodes)) : id, changed: changed, paths: paths)
        memo[id] = .some(out)
        return out
    }

    /// Whether the index has the blob, after copying it from the source repository if needed.
    mutating func present(_ type: BlobType, _ id: ID) -> Bool {
        if repo.hasBlob(type, id) || copied.contains(id) { return true }
        guard let source, source.hasBlob(type, id), let plain = try? source.loadBlob(type, id, verify: true) else { return false }
        if !dryRun { guard (try? repo.saveBlob(type, plain)) != nil else { return false } }
        fetched += 1
        copied.insert(id)
        return true
    }

    mutating func empty() throws -> ID {
        if let emptyTree { return emptyTree }
        let id = dryRun ? repo.blobID(Tree(nodes: []).encode()) : try repo.saveTree(Tree(nodes: []))
        emptyTree = id
        return id
    }
}
