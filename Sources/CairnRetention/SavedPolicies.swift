import CairnCore
import CairnFormat
import CairnRepository
import CairnStorage

// Keep policies saved in the repository, per group of snapshots (per source): they travel in
// the snapshots themselves (`retention`, spec §11.2), so every store that holds snapshots
// holds them, and `copy` carries them along.

extension RetentionPolicy {
    /// The policy a snapshot's `retention` member holds.
    public init(saved p: SavedPolicy) throws {
        self.init()
        guard p.isValid else { throw RepositoryError.damaged("a saved policy breaks spec §11.2") }
        last = p.last ?? 0; hourly = p.hourly ?? 0; daily = p.daily ?? 0
        weekly = p.weekly ?? 0; monthly = p.monthly ?? 0; yearly = p.yearly ?? 0
        func d(_ s: String?) -> RetentionDuration { s.flatMap(RetentionDuration.init(parsing:)) ?? .init() }
        within = d(p.within); withinHourly = d(p.withinHourly); withinDaily = d(p.withinDaily)
        withinWeekly = d(p.withinWeekly); withinMonthly = d(p.withinMonthly); withinYearly = d(p.withinYearly)
        keepTags = p.tags ?? []
    }

    /// The `retention` member for this policy (zero members left out).
    public var saved: SavedPolicy {
        var p = SavedPolicy()
        func n(_ v: Int) -> Int? { v == 0 ? nil : v }
        func d(_ v: RetentionDuration) -> String? { v.isZero ? nil : v.description }
        p.last = n(last); p.hourly = n(hourly); p.daily = n(daily); p.weekly = n(weekly); p.monthly = n(monthly); p.yearly = n(yearly)
        p.within = d(within); p.withinHourly = d(withinHourly); p.withinDaily = d(withinDaily)
        p.withinWeekly = d(withinWeekly); p.withinMonthly = d(withinMonthly); p.withinYearly = d(withinYearly)
        p.tags = keepTags.isEmpty ? nil : keepTags
        return p
    }
}

extension Retention {
    /// The snapshot whose `retention` is the group's policy: the newest one that has one.
    public static func policyCarrier(_ members: [(ID, Snapshot)]) -> (ID, Snapshot)? {
        members.filter { $0.1.retention != nil }.max { ($0.1.timestamp, $0.0) < ($1.1.timestamp, $1.0) }
    }
}

extension Repository {
    /// Saves `s` in place of snapshot `id` (tag, rewrite, saved policies): the new file is
    /// written before the old one is deleted, so an interruption leaves both, never neither.
    /// A snapshot among `existing` equal to `s` (saved by a run cut off before its delete) is
    /// taken instead of saving a duplicate. The caller holds an exclusive lock. Returns the ID
    /// now holding `s`.
    public func replaceSnapshot(_ id: ID, with s: Snapshot, existing: [(ID, Snapshot)] = []) throws -> ID {
        let newID = try existing.first { $0.0 != id && $0.1 == s }?.0 ?? saveSnapshot(s)
        if newID != id { try removeSnapshots([id]) }
        return newID
    }

    /// `policy set` (a policy) and `policy clear` (nil), for each group: set puts the policy on
    /// the group's newest snapshot; clear takes it off every snapshot that has one. Returns,
    /// per group, the snapshots replaced (old ID, new ID). The caller holds an exclusive lock.
    public func savePolicy(_ policy: SavedPolicy?, groups: [(key: RetentionGroupKey, snapshots: [(ID, Snapshot)])],
                           existing: [(ID, Snapshot)]) throws -> [(RetentionGroupKey, [(ID, ID)])] {
        var out: [(RetentionGroupKey, [(ID, ID)])] = []
        for (key, members) in groups {
            try checkCancelled()
            var changed: [(ID, ID)] = []
            if let policy {
                guard let (id, newest) = members.max(by: { ($0.1.timestamp, $0.0) < ($1.1.timestamp, $1.0) }),
                      newest.retention != policy else { out.append((key, [])); continue }
                var s = newest
                s.retention = policy
                s.original = newest.original ?? id.hex
                changed.append((id, try replaceSnapshot(id, with: s, existing: existing)))
            } else {
                for (id, snap) in members where snap.retention != nil {
                    var s = snap
                    s.retention = nil
                    s.original = snap.original ?? id.hex
                    changed.append((id, try replaceSnapshot(id, with: s, existing: existing)))
                }
            }
            out.append((key, changed))
        }
        return out
    }
}
