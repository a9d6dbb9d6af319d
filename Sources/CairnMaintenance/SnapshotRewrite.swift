import CairnCore
import CairnFormat
import CairnRepository
import CairnStorage
import CairnTree
import CairnRetention

/// `rewrite`: new snapshots without the paths the exclude patterns match (restic's rewrite).
public struct RewriteOptions: Sendable {
    /// restic-style exclude patterns (a name glob, or a whole-path glob when it holds `/`).
    public var excludes: [String] = []
    /// Delete each original after its replacement is saved (else the new one is tagged `rewrite`).
    public var forget = false
    public var dryRun = false
    public init() {}
}

public struct RewriteResult: Sendable, Codable {
    public struct Rewritten: Sendable, Codable {
        public var original: String
        /// The replacement (absent in a dry run).
        public var replacement: String?
        /// The removed paths, folders ending in `/` (everything below them went too).
        public var removedPaths: [String]
        public var removedFiles: Int
        public var removedBytes: UInt64
    }
    public var rewritten: [Rewritten] = []
    /// Snapshots no pattern matched (left as they are).
    public var unchanged = 0
    public var dryRun = false
}

extension Repository {
    /// Rewrites each snapshot whose tree holds a path the patterns match: the trees on the
    /// way to a removed node are saved anew (shared subtrees once), the packs and index are
    /// flushed, then the new snapshot is saved: same time, host and paths, `excludes` extended,
    /// `original` naming the snapshot as first made, tag `rewrite` added unless `forget`. Only
    /// then is the original deleted (with `forget`). The caller holds an exclusive lock.
    ///
    /// A run cut off after a save and before its delete is finished by running it again: the
    /// original then rewrites into a snapshot equal to the one already saved, which is taken
    /// instead of saving a duplicate.
    public func rewriteSnapshots(_ targets: [(ID, Snapshot)], options: RewriteOptions,
                                 existing: [(ID, Snapshot)] = []) throws -> RewriteResult {
        var result = RewriteResult(dryRun: options.dryRun)
        var pruner = TreePruner(repo: self, excludes: ExcludeMatcher(patterns: options.excludes), dryRun: options.dryRun)
        for (id, snap) in targets {
            try checkCancelled()
            guard let root = snap.treeID else { throw RepositoryError.damaged("snapshot \(id.short) names no tree") }
            let r = try pruner.rewrite(root, path: [])
            guard r.changed else { result.unchanged += 1; continue }
            var entry = RewriteResult.Rewritten(original: id.hex, removedPaths: r.removed, removedFiles: r.files, removedBytes: r.bytes)
            if !options.dryRun {
                try flush()   // the new trees durable before the snapshot that names them
                var s = snap
                s.tree = r.id.hex
                for p in options.excludes where !s.excludes.contains(p) { s.excludes.append(p) }
                if !options.forget && !s.tags.contains("rewrite") { s.tags.append("rewrite") }
                s.original = snap.original ?? id.hex
                s.summary.totalFiles = max(0, s.summary.totalFiles - r.files)
                s.summary.totalBytes = s.summary.totalBytes >= r.bytes ? s.summary.totalBytes - r.bytes : 0
                entry.replacement = options.forget ? try replaceSnapshot(id, with: s, existing: existing).hex
                    : try (existing.first { $0.0 != id && $0.1 == s }?.0 ?? saveSnapshot(s)).hex
            }
            result.rewritten.append(entry)
        }
        return result
    }
}

/// Removes matching nodes from trees, bottom-up. Memoized by (path, tree ID): a pattern with
/// `/` depends on where a tree sits, so the same tree is reused only at the same path.
struct TreePruner {
    struct Rewritten { var id: ID; var changed: Bool; var removed: [String]; var files: Int; var bytes: UInt64 }
    let repo: Repository
    let excludes: ExcludeMatcher
    let dryRun: Bool
    var memo: [PathBytes: [ID: Rewritten]] = [:]

    init(repo: Repository, excludes: ExcludeMatcher, dryRun: Bool) { self.repo = repo; self.excludes = excludes; self.dryRun = dryRun }

    mutating func rewrite(_ id: ID, path: PathBytes) throws -> Rewritten {
        if let m = memo[path]?[id] { return m }
        var nodes: [Node] = []
        var out = Rewritten(id: id, changed: false, removed: [], files: 0, bytes: 0)
        for n in try repo.loadTree(id).nodes {
            let p = path + [47] + n.name
            if excludes.excluded(p, name: n.name) {
                out.changed = true
                out.removed.append(FS.string(p) + (n.type == .directory ? "/" : ""))
                let (files, bytes) = try count(n)
                out.files += files; out.bytes += bytes
                continue
            }
            var m = n
            if let sub = n.subtree {
                let r = try rewrite(sub, path: p)
                if r.changed {
                    m.content = .subtree(r.id)
                    out.changed = true
                    out.removed += r.removed; out.files += r.files; out.bytes += r.bytes
                }
            }
            nodes.append(m)
        }
        if out.changed {
            let tree = Tree(nodes: nodes)
            out.id = dryRun ? repo.blobID(tree.encode()) : try repo.saveTree(tree)
        }
        memo[path, default: [:]][id] = out
        return out
    }

    /// Files and their bytes at and below a removed node (what the snapshot's summary loses).
    func count(_ n: Node) throws -> (Int, UInt64) {
        guard let sub = n.subtree else { return n.type == .file ? (1, n.size) : (0, 0) }
        var files = 0, bytes: UInt64 = 0
        try repo.walk(sub) { _, c in
            if c.type == .file { files += 1; bytes += c.size }
            return true
        }
        return (files, bytes)
    }
}
