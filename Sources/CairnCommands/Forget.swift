import CairnCore
import CairnTree
import CairnRetention
import CairnMaintenance
import CairnFormat
import CairnRepository

/// `forget`: removes the snapshots named, or those a keep policy does not keep, group by
/// group. Without a policy each group's saved policy applies (format-spec §11.2). Whichever
/// policy applies, when the snapshot carrying the saved one goes, the newest kept snapshot of
/// the group takes it over first.
/// Only snapshot files are deleted; prune frees the data.
public struct ForgetCommand: RepositoryCommand {
    /// Snapshots to remove (IDs, prefixes, `latest`); no policy applies then.
    public var snapshots: [String] = []
    /// The policy; empty: each group's saved one.
    public var policy = RetentionPolicy()
    public var groupBy = RetentionGroupBy(parsing: "host,paths")!
    public var filter = SnapshotFilter()
    public var dryRun = false
    /// Prune afterwards, under the same exclusive lock (no backup can start between the two).
    public var prune: PruneOptions? = nil
    /// Hours, days and weeks are those of this zone; `now` is the time durations end at.
    public var zone: any RetentionTimeZone = SystemTimeZone()
    public var now = Timestamp.now()

    public init() {}
    /// Removes the snapshots named, without a policy.
    public init(snapshots: [String]) { self.snapshots = snapshots }

    public var operation: String { dryRun ? "forget --dry-run" : "forget" }
    public var lock: LockNeed { dryRun ? .shared(readOnly: false) : .exclusive }

    /// One snapshot in a group's lists (restic's layout).
    public struct Entry: Codable, Sendable, Equatable {
        public var id: String, short_id: String, time: String, hostname: String, paths: [String], tags: [String]
    }
    /// Why a kept snapshot is kept: the rules that matched, and the counters left after it.
    public struct Reason: Codable, Sendable, Equatable {
        public var id: String, short_id: String, time: String, matches: [String], counters: [String: Int]
    }
    /// One group: its key, the policy applied, what is kept and what goes.
    public struct Group: Encodable, Sendable {
        public var key: RetentionGroupKey
        public var host: String? { key.host }
        public var paths: [String]? { key.paths }
        public var tags: [String]? { key.tags }
        public var keep: [Entry], remove: [Entry], reasons: [Reason]
        /// The policy applied to this group (its description), and whether it was the saved one.
        public var policy: String
        public var saved_policy: Bool
        /// Kept and removed decisions, newest first, for tables (not in the JSON).
        public var decisions: [Decision]

        enum CodingKeys: String, CodingKey { case host, paths, tags, keep, remove, reasons, policy, saved_policy }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encodeIfPresent(host, forKey: .host); try c.encodeIfPresent(paths, forKey: .paths); try c.encodeIfPresent(tags, forKey: .tags)
            try c.encode(keep, forKey: .keep); try c.encode(remove, forKey: .remove); try c.encode(reasons, forKey: .reasons)
            try c.encode(policy, forKey: .policy); try c.encode(saved_policy, forKey: .saved_policy)
        }
    }
    public struct Decision: Sendable {
        public var id: ID, snapshot: Snapshot, keep: Bool, reasons: [String]
    }
    /// A saved policy that moves to the newest kept snapshot because its carrier goes.
    public struct PolicyMove: Codable, Sendable, Equatable {
        public var from: String, to: String, saved_as: String?
    }
    public struct Result: Encodable, Sendable {
        public var dry_run: Bool
        /// Snapshots named (no policy).
        public var named: [Entry]
        public var groups: [Group]
        public var policy_moves: [PolicyMove]
        /// Groups left alone: no policy given and none saved.
        public var groups_without_policy: Int
        public var removed: [String]
        public var prune: PruneResult?
    }

    public func run(_ repo: Repository, _ context: CommandContext) throws -> Result {
        if prune != nil && dryRun { throw CommandError("--prune with --dry-run: run `cairn prune --dry-run` to see what prune would free") }
        var result = Result(dry_run: dryRun, named: [], groups: [], policy_moves: [], groups_without_policy: 0, removed: [], prune: nil)
        var remove: [ID] = []
        if !snapshots.isEmpty {
            for s in snapshots {
                let (id, snap) = try repo.resolveSnapshot(s, filter: filter)
                if !remove.contains(id) { remove.append(id); result.named.append(Self.entry(id, snap)) }
            }
        } else {
            let list = try repo.matchingSnapshots(filter)
            let all = try repo.snapshots().snapshots
            let useSaved = policy.isEmpty
            var moves: [(from: ID, to: ID, Snapshot)] = []
            for (key, members) in Retention.group(list, by: groupBy) {
                var p = policy
                // The snapshot carrying the group's saved policy, whichever policy applies now.
                let carrier = Retention.policyCarrier(members).flatMap { $0.1.retention == nil ? nil : $0 }
                if useSaved {
                    guard let sp = carrier?.1.retention else { result.groups_without_policy += 1; continue }
                    p = try RetentionPolicy(saved: sp)
                }
                let decisions = Retention.apply(p, to: members, zone: zone, now: now)
                let kept = decisions.filter(\.keep), gone = decisions.filter { !$0.keep }
                remove += gone.map(\.id)
                // The snapshot holding the saved policy goes: the newest kept one takes it over first.
                if let (cid, c) = carrier, gone.contains(where: { $0.id == cid }), let heir = kept.first {
                    var s = heir.snapshot
                    s.retention = c.retention
                    s.original = heir.snapshot.original ?? heir.id.hex
                    moves.append((cid, heir.id, s))
                    context.step("the saved policy \(dryRun ? "would move" : "moves") from snapshot \(cid.short) to \(heir.id.short)")
                }
                let names = ["last", "hourly", "daily", "weekly", "monthly", "yearly"]
                result.groups.append(Group(
                    key: key,
                    keep: kept.map { Self.entry($0.id, $0.snapshot) }, remove: gone.map { Self.entry($0.id, $0.snapshot) },
                    reasons: kept.map { d in
                        Reason(id: d.id.hex, short_id: d.id.short, time: d.snapshot.time, matches: d.reasons,
                               counters: Dictionary(uniqueKeysWithValues: zip(names, d.counters).filter { $0.1 != 0 }))
                    },
                    policy: "\(p)", saved_policy: useSaved,
                    decisions: decisions.map { Decision(id: $0.id, snapshot: $0.snapshot, keep: $0.keep, reasons: $0.reasons) }))
            }
            for m in moves {
                var move = PolicyMove(from: m.from.hex, to: m.to.hex, saved_as: nil)
                // Saved before the old carrier is deleted (below): the policy is never lost.
                if !dryRun { move.saved_as = try repo.replaceSnapshot(m.to, with: m.2, existing: all).hex }
                result.policy_moves.append(move)
            }
        }
        if !dryRun { try repo.removeSnapshots(remove) }
        result.removed = remove.map(\.hex)
        if let prune, !dryRun { result.prune = try CairnMaintenance.prune(repo, options: prune, progress: context.progress) }
        return result
    }

    static func entry(_ id: ID, _ s: Snapshot) -> Entry {
        Entry(id: id.hex, short_id: id.short, time: s.time, hostname: s.hostname, paths: s.paths, tags: s.tags)
    }
}
