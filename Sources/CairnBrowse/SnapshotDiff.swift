import CairnCore
import CairnFormat
import CairnRepository

/// One line of `diff`: `+` added, `-` removed, `M` content changed, `T` type changed,
/// `U` metadata changed (only when asked), `?` after M when nothing but the content differs.
/// Folder paths end in "/", as restic prints them.
public struct DiffChange: Sendable, Equatable {
    public var path: String
    public var modifier: String
    public init(path: String, modifier: String) { self.path = path; self.modifier = modifier }
}

/// Counts on one side of a diff (restic's "added" and "removed" blocks).
public struct DiffCounts: Sendable, Codable, Equatable {
    public var files = 0, dirs = 0, others = 0
    public var dataBlobs = 0, treeBlobs = 0
    public var bytes: UInt64 = 0

    enum CodingKeys: String, CodingKey { case files, dirs, others, dataBlobs = "data_blobs", treeBlobs = "tree_blobs", bytes }

    mutating func count(_ n: Node) {
        switch n.type { case .file: files += 1; case .directory: dirs += 1; default: others += 1 }
    }
}

/// The summary of a diff.
public struct DiffStatistics: Sendable {
    public var changedFiles = 0
    public var added = DiffCounts()
    public var removed = DiffCounts()
    /// Trees read: identical subtrees are skipped, so this grows with the change, not the snapshot.
    public var treesLoaded = 0
}

/// Compares two trees in lockstep (both sorted by name). A subtree with the same ID on both
/// sides is the same content and is not read. Blob counts are of the blobs referenced only by
/// one side's changed part: a blob that is also used inside an unchanged subtree may be counted
/// as added or removed (restic reads the unchanged subtrees to rule that out).
public struct SnapshotDiff {
    let repo: Repository
    let metadata: Bool
    let emit: (DiffChange) throws -> Void
    var stats = DiffStatistics()
    var before = BlobSets(), after = BlobSets()

    struct BlobSets {
        var data = Set<ID>(), trees = Set<ID>()
        mutating func add(_ n: Node) {
            if let s = n.subtree { trees.insert(s) } else { data.formUnion(n.chunks) }
        }
    }

    /// Diffs two folders (snapshot roots or sub-folders), calling `emit` for each change in order.
    public static func run(_ repo: Repository, from a: ID, to b: ID, metadata: Bool = false,
                           _ emit: (DiffChange) throws -> Void) throws -> DiffStatistics {
        try withoutActuallyEscaping(emit) { emit in
            var d = SnapshotDiff(repo: repo, metadata: metadata, emit: emit)
            d.before.trees.insert(a); d.after.trees.insert(b)
            if a != b { try d.compare(a, b, prefix: "") }
            d.totals()
            return d.stats
        }
    }

    mutating func load(_ id: ID) throws -> [Node] {
        stats.treesLoaded += 1
        return try repo.loadTree(id).nodes
    }

    mutating func compare(_ a: ID, _ b: ID, prefix: String) throws {
        let left = try load(a), right = try load(b)
        var i = 0, j = 0
        while i < left.count || j < right.count {
            let l = i < left.count ? left[i] : nil, r = j < right.count ? right[j] : nil
            if let l, r == nil || l.name.lexicographicallyPrecedes(r!.name) {
                try whole(l, prefix: prefix, sign: "-"); i += 1
            } else if let r, l == nil || r.name.lexicographicallyPrecedes(l!.name) {
                try whole(r, prefix: prefix, sign: "+"); j += 1
            } else {
                try both(l!, r!, prefix: prefix); i += 1; j += 1
            }
        }
    }

    static func path(_ prefix: String, _ n: Node) -> String {
        prefix + "/" + n.nameString + (n.type == .directory ? "/" : "")
    }

    /// A node only on one side, and everything below it.
    mutating func whole(_ n: Node, prefix: String, sign: String) throws {
        try emit(DiffChange(path: Self.path(prefix, n), modifier: sign))
        if sign == "+" { stats.added.count(n); after.add(n) } else { stats.removed.count(n); before.add(n) }
        if let sub = n.subtree {
            for child in try load(sub) { try whole(child, prefix: prefix + "/" + n.nameString, sign: sign) }
        }
    }

    /// A name on both sides.
    mutating func both(_ l: Node, _ r: Node, prefix: String) throws {
        before.add(l); after.add(r)
        var mod = l.type != r.type ? "T" : ""
        if l.type == .file && r.type == .file && l.chunks != r.chunks {
            mod += "M"
            stats.changedFiles += 1
            var lm = l, rm = r
            lm.content = .none; rm.content = .none
            if lm == rm { mod += "?" }
        } else if metadata && l != r {
            mod += "U"
        }
        if !mod.isEmpty { try emit(DiffChange(path: Self.path(prefix, r), modifier: mod)) }
        // As restic: a folder that replaces a file (T) is one line, its content is not listed.
        if let ls = l.subtree, let rs = r.subtree, ls != rs { try compare(ls, rs, prefix: prefix + "/" + r.nameString) }
    }

    /// Blobs only before are removed, only after added; sizes are plain (uncompressed) bytes.
    mutating func totals() {
        func count(_ ids: Set<ID>, _ type: BlobType, into c: inout DiffCounts) {
            for id in ids {
                if type == .data { c.dataBlobs += 1 } else { c.treeBlobs += 1 }
                c.bytes += UInt64(repo.lookup(type, id)?.entry.plainLength ?? 0)
            }
        }
        count(before.data.subtracting(after.data), .data, into: &stats.removed)
        count(before.trees.subtracting(after.trees), .tree, into: &stats.removed)
        count(after.data.subtracting(before.data), .data, into: &stats.added)
        count(after.trees.subtracting(before.trees), .tree, into: &stats.added)
    }
}
