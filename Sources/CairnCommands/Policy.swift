import CairnCore
import CairnTree
import CairnRetention
import CairnFormat
import CairnRepository

/// Which groups `policy set`, `show` and `clear` work on: forget's groups of the snapshots
/// the filter matches.
public struct PolicyScope: Sendable {
    public var filter = SnapshotFilter()
    public var groupBy = RetentionGroupBy(parsing: "host,paths")!
    public init() {}

    func groups(_ all: [(ID, Snapshot)]) -> [(key: RetentionGroupKey, snapshots: [(ID, Snapshot)])] {
        Retention.group(all.filter { filter.matches($0.1) }, by: groupBy)
    }
}

/// `policy set` (a policy) and `policy clear` (nil): the policy is kept in each group's
/// newest snapshot (format-spec §11.2), which is replaced by a copy carrying it.
public struct PolicyChangeCommand: RepositoryCommand {
    public var policy: RetentionPolicy?
    public var scope: PolicyScope
    public init(policy: RetentionPolicy?, scope: PolicyScope) { self.policy = policy; self.scope = scope }
    public var operation: String { "policy" }
    public var lock: LockNeed { .exclusive }

    public struct Change: Codable, Sendable {
        public var group: RetentionGroupKey
        /// [old ID, new ID] per snapshot replaced; empty: the group already had this policy.
        public var replaced: [[String]]
    }

    public func run(_ repo: Repository, _ context: CommandContext) throws -> [Change] {
        if let policy, policy.isEmpty { throw CommandError("give the policy as --keep-* flags (policy clear removes one)") }
        // An unreadable snapshot may be a group's newest: refuse unless told to leave it out.
        _ = try repo.matchingSnapshots(scope.filter)
        let (all, _) = try repo.snapshots()
        let groups = scope.groups(all)
        if groups.isEmpty {
            throw RepositoryError.invalidArgument("no snapshot matches the filters: a policy is saved in a group's snapshots, back up first")
        }
        return try repo.savePolicy(policy?.saved, groups: groups, existing: all).map {
            Change(group: $0.0, replaced: $0.1.map { [$0.0.hex, $0.1.hex] })
        }
    }
}

/// `policy show`: each group's saved policy and the snapshot that carries it.
public struct PolicyShowCommand: RepositoryCommand {
    public var scope: PolicyScope
    public init(scope: PolicyScope) { self.scope = scope }
    public var operation: String { "policy show" }
    public var lock: LockNeed { .none }

    public struct Group: Codable, Sendable {
        public var group: RetentionGroupKey
        public var snapshot: String?
        public var retention: SavedPolicy?
    }

    public func run(_ repo: Repository, _ context: CommandContext) throws -> [Group] {
        let (all, _) = try repo.snapshots()
        return scope.groups(all).map { key, members in
            let c = Retention.policyCarrier(members)
            return Group(group: key, snapshot: c?.0.hex, retention: c?.1.retention)
        }
    }
}
