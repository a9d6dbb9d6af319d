import CairnCore
import CairnFormat
import CairnRepository
import CairnTree

/// `snapshots`: the snapshots the filter matches, oldest first. A snapshot file that cannot
/// be read is a warning here (listing is how one finds it), never a silent omission.
public struct SnapshotsCommand: RepositoryCommand {
    public var filter = SnapshotFilter()
    public init() {}
    public var operation: String { "snapshots" }
    public var lock: LockNeed { .none }

    public struct Listed: Encodable, Sendable {
        public var id: ID
        public var snapshot: Snapshot
        enum CodingKeys: String, CodingKey { case id, snapshot }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id.hex, forKey: .id); try c.encode(snapshot, forKey: .snapshot)
        }
    }

    public func run(_ repo: Repository, _ context: CommandContext) throws -> [Listed] {
        let (all, bad) = try repo.snapshots()
        for (id, e) in bad { context.warn("snapshot \(id.hex) cannot be read: \(e)") }
        return all.filter { filter.matches($0.1) }.map { Listed(id: $0.0, snapshot: $0.1) }
    }
}
