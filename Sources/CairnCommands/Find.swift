import CairnBrowse
import CairnCore
import CairnFormat
import CairnRepository
import CairnTree

/// `find`: entries whose paths match the query, per snapshot (those the filter matches, or
/// those named).
public struct FindCommand: RepositoryCommand {
    public var query: FindQuery
    public var snapshots: [String] = []
    public var filter = SnapshotFilter()
    public init(_ query: FindQuery) { self.query = query }
    public var operation: String { "find" }
    public var lock: LockNeed { .none }

    public struct Found: Encodable, Sendable {
        public var id: ID
        public var snapshot: Snapshot
        public var matches: [(path: String, node: Node)]
        enum CodingKeys: String, CodingKey { case snapshot, hits, paths }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id.hex, forKey: .snapshot); try c.encode(matches.count, forKey: .hits)
            try c.encode(matches.map(\.path), forKey: .paths)
        }
    }

    public func run(_ repo: Repository, _ context: CommandContext) throws -> [Found] {
        try repo.loadIndex()
        let snaps = snapshots.isEmpty ? try repo.matchingSnapshots(filter) : try snapshots.map { try repo.resolveSnapshot($0, filter: filter) }
        var out: [Found] = []
        for (id, snap) in snaps {
            guard let root = snap.treeID else { continue }
            let found = try repo.find(query, in: root)
            if !found.isEmpty { out.append(Found(id: id, snapshot: snap, matches: found)) }
        }
        return out
    }
}

/// `stats`: cairn's summary of sizes, or one of restic's counts (`mode`).
public struct StatsCommand: RepositoryCommand {
    public var snapshots: [String] = []
    public var filter = SnapshotFilter()
    public var mode: StatsMode?
    public init() {}
    public var operation: String { "stats" }
    public var lock: LockNeed { .none }

    public enum Result: Encodable, Sendable {
        case summary(RepositoryStats)
        case mode(ModeStats)
        public func encode(to encoder: any Encoder) throws {
            switch self {
            case .summary(let s): try s.encode(to: encoder)
            case .mode(let s): try s.encode(to: encoder)
            }
        }
    }

    public func run(_ repo: Repository, _ context: CommandContext) throws -> Result {
        try repo.loadIndex()
        let snaps = snapshots.isEmpty ? try repo.matchingSnapshots(filter).map(\.1) : try snapshots.map { try repo.resolveSnapshot($0, filter: filter).1 }
        if let mode { return .mode(try repo.stats(mode, snapshots: snaps)) }
        return .summary(try repo.stats(snapshots: snaps))
    }
}

/// `diff`: what changed between two snapshots, or two folders of them (`SNAPSHOT:FOLDER`).
/// Changes are handed to `onChange` as they are found (a diff may be long).
public struct DiffCommand: RepositoryCommand {
    public var first: String, second: String
    public var metadata = false
    /// Told the two snapshots once they are resolved, before the first change.
    public var onStart: @Sendable (_ from: ID, _ to: ID) throws -> Void = { _, _ in }
    public var onChange: @Sendable (DiffChange) throws -> Void = { _ in }
    public init(_ first: String, _ second: String) { self.first = first; self.second = second }
    public var operation: String { "diff" }
    public var lock: LockNeed { .none }

    public struct Result: Encodable, Sendable {
        public var source_snapshot: String, target_snapshot: String
        public var changed_files: Int
        public var added: DiffCounts, removed: DiffCounts
    }

    public func run(_ repo: Repository, _ context: CommandContext) throws -> Result {
        try repo.loadIndex()
        let (aID, aTree) = try folder(repo, first), (bID, bTree) = try folder(repo, second)
        try onStart(aID, bID)
        let stats = try SnapshotDiff.run(repo, from: aTree, to: bTree, metadata: metadata, onChange)
        return Result(source_snapshot: aID.hex, target_snapshot: bID.hex, changed_files: stats.changedFiles,
                      added: stats.added, removed: stats.removed)
    }

    /// The snapshot and the folder tree a SNAPSHOT[:FOLDER] argument names.
    func folder(_ repo: Repository, _ spec: String) throws -> (ID, ID) {
        let (snap, path) = spec.firstIndex(of: ":").map { (String(spec[..<$0]), String(spec[spec.index(after: $0)...])) } ?? (spec, "/")
        let (id, s) = try repo.resolveSnapshot(snap)
        guard let root = s.treeID else { throw RepositoryError.invalidArgument("snapshot \(id.short) has no tree") }
        guard let tree = try repo.node(at: path, root: root).subtree else { throw RepositoryError.invalidArgument("\(path) is not a folder in snapshot \(id.short)") }
        return (id, tree)
    }
}
