import CairnCore
import CairnTree
import CairnRetention
import CairnFormat
import CairnRepository

/// `tag`: a snapshot with other tags is a new snapshot file (same tree and time, `original`
/// naming its first ID, format-spec §11.1), saved before the old one is deleted.
public struct TagCommand: RepositoryCommand {
    public var snapshots: [String] = []
    public var filter = SnapshotFilter()
    public var add: [String] = [], remove: [String] = []
    /// Replaces all tags (nil: add and remove apply).
    public var set: [String]? = nil

    public init() {}
    public var operation: String { "tag" }
    public var lock: LockNeed { .exclusive }

    public struct Change: Codable, Sendable { public var old: String, new: String, tags: [String] }
    public struct Result: Encodable, Sendable {
        public var changes: [Change]
        /// Snapshots that already had those tags.
        public var unchanged: Int
    }

    public func run(_ repo: Repository, _ context: CommandContext) throws -> Result {
        if set != nil && !(add.isEmpty && remove.isEmpty) { throw CommandError("--set cannot be combined with --add or --remove") }
        if set == nil && add.isEmpty && remove.isEmpty { throw CommandError("nothing to do: give --add, --remove or --set") }
        let (all, targets) = try selectSnapshots(repo, named: snapshots, filter: filter)
        var changes: [Change] = []
        for (id, snap) in targets {
            try repo.checkCancelled()
            guard let tags = Repository.retagged(snap.tags, add: add, remove: remove, set: set) else { continue }
            let newID = try repo.saveRetagged(id, snap, tags: tags, existing: all)
            changes.append(Change(old: id.hex, new: newID.hex, tags: tags))
            context.step("snapshot \(id.short) -> \(newID.short): tags [\(tags.joined(separator: ", "))]")
        }
        return Result(changes: changes, unchanged: targets.count - changes.count)
    }
}
