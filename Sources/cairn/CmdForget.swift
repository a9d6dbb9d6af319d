import ArgumentParser
import CairnCore
import CairnMaintenance
import CairnRetention
import CairnTree
import CairnFormat
import CairnRepository
import FoundationEssentials

/// A `--keep-*` count: a number, or `unlimited` (-1).
struct KeepCount: ExpressibleByArgument {
    var value: Int
    init?(argument: String) {
        if argument == "unlimited" { value = -1; return }
        guard let n = Int(argument), n >= 0 else { return nil }
        value = n
    }
}

extension RetentionDuration: ExpressibleByArgument {
    public init?(argument: String) { self.init(parsing: argument) }
}

/// The `--keep-*` rules of forget and `policy set`.
struct KeepOptions: ParsableArguments {
    @Option(name: [.customShort("l"), .customLong("keep-last")], help: ArgumentHelp("Keep the last n snapshots (or unlimited).", valueName: "n"))
    var keepLast: KeepCount?
    @Option(name: [.customShort("H"), .customLong("keep-hourly")], help: ArgumentHelp("Keep the newest snapshot of each of the last n hours.", valueName: "n"))
    var keepHourly: KeepCount?
    @Option(name: [.customShort("d"), .customLong("keep-daily")], help: ArgumentHelp("Keep the newest snapshot of each of the last n days.", valueName: "n"))
    var keepDaily: KeepCount?
    @Option(name: [.customShort("w"), .customLong("keep-weekly")], help: ArgumentHelp("Keep the newest snapshot of each of the last n ISO weeks.", valueName: "n"))
    var keepWeekly: KeepCount?
    @Option(name: [.customShort("m"), .customLong("keep-monthly")], help: ArgumentHelp("Keep the newest snapshot of each of the last n months.", valueName: "n"))
    var keepMonthly: KeepCount?
    @Option(name: [.customShort("y"), .customLong("keep-yearly")], help: ArgumentHelp("Keep the newest snapshot of each of the last n years.", valueName: "n"))
    var keepYearly: KeepCount?
    @Option(name: .customLong("keep-within"), help: ArgumentHelp("Keep snapshots newer than this before the newest (e.g. 1y5m7d2h).", valueName: "duration"))
    var keepWithin: RetentionDuration?
    @Option(name: .customLong("keep-within-hourly"), help: ArgumentHelp("Keep hourly snapshots within this duration.", valueName: "duration"))
    var keepWithinHourly: RetentionDuration?
    @Option(name: .customLong("keep-within-daily"), help: ArgumentHelp("Keep daily snapshots within this duration.", valueName: "duration"))
    var keepWithinDaily: RetentionDuration?
    @Option(name: .customLong("keep-within-weekly"), help: ArgumentHelp("Keep weekly snapshots within this duration.", valueName: "duration"))
    var keepWithinWeekly: RetentionDuration?
    @Option(name: .customLong("keep-within-monthly"), help: ArgumentHelp("Keep monthly snapshots within this duration.", valueName: "duration"))
    var keepWithinMonthly: RetentionDuration?
    @Option(name: .customLong("keep-within-yearly"), help: ArgumentHelp("Keep yearly snapshots within this duration.", valueName: "duration"))
    var keepWithinYearly: RetentionDuration?
    @Option(name: .customLong("keep-tag"), help: ArgumentHelp("Keep snapshots with this tag (a,b = both; repeatable = either).", valueName: "taglist"))
    var keepTags: [String] = []
    var policy: RetentionPolicy {
        var p = RetentionPolicy()
        p.last = keepLast?.value ?? 0; p.hourly = keepHourly?.value ?? 0; p.daily = keepDaily?.value ?? 0
        p.weekly = keepWeekly?.value ?? 0; p.monthly = keepMonthly?.value ?? 0; p.yearly = keepYearly?.value ?? 0
        p.within = keepWithin ?? .init(); p.withinHourly = keepWithinHourly ?? .init(); p.withinDaily = keepWithinDaily ?? .init()
        p.withinWeekly = keepWithinWeekly ?? .init(); p.withinMonthly = keepWithinMonthly ?? .init(); p.withinYearly = keepWithinYearly ?? .init()
        p.keepTags = keepTags.map { $0.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmed } }
        return p
    }
}

struct Forget: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove snapshots by a keep policy (restic's forget), or the snapshots named.",
        discussion: """
        Snapshots are grouped by host and paths (--group-by), and the policy is applied to \
        each group: a snapshot is kept when any --keep-* rule keeps it. Hours, days, ISO weeks, \
        months and years are those of the local time zone (TZ). Durations are like 2y5m7d3h \
        and count back from the group's newest snapshot. Snapshot IDs given as arguments are \
        removed without a policy. Without --keep-* flags, each group's saved policy (cairn \
        policy set) applies, and groups without one are left alone. Only snapshot files are \
        deleted; prune frees the data.
        """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var filters: FilterOptions

    @OptionGroup var keep: KeepOptions
    @Option(name: [.customShort("g"), .customLong("group-by")], help: ArgumentHelp("Group by host, paths and/or tags, comma-separated ('' = one group).", valueName: "group"))
    var groupBy = "host,paths"
    @Flag(name: [.customShort("n"), .customLong("dry-run")], help: "Only show what would be removed.")
    var dryRun = false
    @Flag(help: "Run prune (with its defaults, --max-unused 5%) after removing the snapshots, under the same lock; not with --dry-run.")
    var prune = false
    @Argument(help: "Snapshots to remove (IDs, prefixes or `latest`); no policy applies then.")
    var snapshots: [String] = []

    func validate() throws {
        if RetentionGroupBy(parsing: groupBy) == nil { throw ValidationError("--group-by takes host, paths and tags, comma-separated") }
        if prune && dryRun { throw ValidationError("--prune with --dry-run: run `cairn prune --dry-run` to see what prune would free") }
    }

    /// One group in `--json` output (restic's layout: keep, remove, reasons).
    struct JSONGroup: Encodable {
        struct Entry: Encodable {
            var id: String; var short_id: String; var time: String; var hostname: String; var paths: [String]; var tags: [String]
        }
        struct Reason: Encodable {
            var id: String; var short_id: String; var time: String; var matches: [String]; var counters: [String: Int]
        }
        var host: String?; var paths: [String]?; var tags: [String]?
        var keep: [Entry]; var remove: [Entry]; var reasons: [Reason]
    }

    func run() throws {
        let repo = try global.open()
        let lock = try global.writeLock(repo, exclusive: !dryRun, operation: dryRun ? "forget --dry-run" : "forget")
        defer { lock.release() }
        let f = try filters.filter
        var remove: [ID] = []
        if !snapshots.isEmpty {
            for s in snapshots {
                let (id, snap) = try repo.resolveSnapshot(s, filter: f)
                if !remove.contains(id) { remove.append(id) }
                if !global.json && !global.quiet { stdout("\(dryRun ? "would remove" : "remove") snapshot \(id.short) of \(snap.paths.joined(separator: ", ")) at \(snap.timestamp.localDisplay)") }
            }
            if global.json { try global.emit(json: remove.map(\.hex)) }
        } else {
            let given = keep.policy
            let list = try repo.matchingSnapshots(f)
            let all = try repo.snapshots().snapshots
            // No --keep-* flags: each group's saved policy (`cairn policy set`), if it has one.
            let saved = given.isEmpty
            if !saved && !global.json && !global.quiet { stdout("Applying policy: \(given)") }
            var groups: [JSONGroup] = []
            var moves: [(from: ID, to: ID, Snapshot)] = []
            var unsaved = 0, applied = 0
            let zone = SystemTimeZone(), now = Timestamp.now()
            for (key, members) in Retention.group(list, by: RetentionGroupBy(parsing: groupBy)!) {
                var p = given
                var carrier: (ID, Snapshot)? = nil
                if saved {
                    guard let c = Retention.policyCarrier(members), let sp = c.1.retention else { unsaved += 1; continue }
                    p = try RetentionPolicy(saved: sp)
                    carrier = c
                    if !global.json && !global.quiet { stdout("\nApplying the policy saved for \(Self.describe(key)): \(p)") }
                }
                applied += 1
                let decisions = Retention.apply(p, to: members, zone: zone, now: now)
                let kept = decisions.filter(\.keep), gone = decisions.filter { !$0.keep }
                remove += gone.map(\.id)
                // The snapshot holding the saved policy goes: the newest kept one takes it over first.
                if let (cid, c) = carrier, gone.contains(where: { $0.id == cid }), let heir = kept.first {
                    var s = heir.snapshot
                    s.retention = c.retention
                    s.original = heir.snapshot.original ?? heir.id.hex
                    moves.append((cid, heir.id, s))
                    if !global.json && !global.quiet { stdout("the saved policy \(dryRun ? "would move" : "moves") from snapshot \(cid.short) to \(heir.id.short)") }
                }
                if global.json {
                    func entry(_ d: RetentionDecision) -> JSONGroup.Entry {
                        .init(id: d.id.hex, short_id: d.id.short, time: d.snapshot.time, hostname: d.snapshot.hostname,
                              paths: d.snapshot.paths, tags: d.snapshot.tags)
                    }
                    let names = ["last", "hourly", "daily", "weekly", "monthly", "yearly"]
                    groups.append(JSONGroup(host: key.host, paths: key.paths, tags: key.tags, keep: kept.map(entry), remove: gone.map(entry),
                                            reasons: kept.map { d in
                        .init(id: d.id.hex, short_id: d.id.short, time: d.snapshot.time, matches: d.reasons,
                              counters: Dictionary(uniqueKeysWithValues: zip(names, d.counters).filter { $0.1 != 0 }))
                    }))
                } else if !global.quiet {
                    stdout("")
                    stdout(key.host == nil && key.paths == nil && key.tags == nil ? "snapshots:" : "snapshots for \(Self.describe(key)):")
                    if !kept.isEmpty { stdout("keep \(kept.count) snapshot(s):"); printTable(kept, reasons: true) }
                    if !gone.isEmpty { stdout("\(dryRun ? "would remove" : "remove") \(gone.count) snapshot(s):"); printTable(gone, reasons: false) }
                }
            }
            if global.json { try global.emit(json: groups) }
            if saved && !global.json {
                if applied == 0 { stderr("no policy was given (--keep-*) and none is saved (cairn policy set), no snapshots will be removed") }
                else if unsaved > 0 { stderr("\(unsaved) group(s) have no saved policy and were left alone") }
            }
            if !dryRun {
                for m in moves {
                    // Saved before the old carrier is deleted (below): the policy is never lost.
                    _ = try repo.replaceSnapshot(m.to, with: m.2, existing: all)
                }
            }
        }
        if !dryRun {
            try repo.removeSnapshots(remove)
        }
        if !global.json && !global.quiet {
            stdout("")
            stdout(dryRun ? "would remove \(remove.count) snapshot(s) (dry run: nothing changed)"
                          : "removed \(remove.count) snapshot(s)" + (prune ? "; pruning" : "; run `cairn prune` to free the data only they used"))
        }
        if prune && !dryRun {
            // Under the same exclusive lock: no backup can start between the two.
            let r = try CairnMaintenance.prune(repo, options: PruneOptions())
            if !global.json { report(r, global) }
        }
    }

    /// "host h, paths [a, b], tags [t]": the members a group is keyed by.
    static func describe(_ key: RetentionGroupKey) -> String {
        var header: [String] = []
        if let h = key.host { header.append("host \(h)") }
        if let ps = key.paths { header.append("paths [\(ps.joined(separator: ", "))]") }
        if let ts = key.tags { header.append("tags [\(ts.joined(separator: ", "))]") }
        return header.isEmpty ? "all snapshots" : header.joined(separator: ", ")
    }

    /// restic's table: one row per snapshot, oldest first, further reasons on lines of their own.
    func printTable(_ newestFirst: [RetentionDecision], reasons: Bool) {
        let ds = Array(newestFirst.reversed())
        let rw = reasons ? max(7, ds.flatMap(\.reasons).map(\.count).max() ?? 0) : 0
        var head = [pad("ID", 8), pad("Time", 19), pad("Host", 16), pad("Tags", 12)].joined(separator: " ") + " "
        if reasons { head += pad("Reasons", rw) + "  " }
        head += "Paths"
        stdout(head)
        stdout(String(repeating: "-", count: max(90, head.count + 20)))
        for d in ds {
            let s = d.snapshot
            var line = [d.id.short, s.timestamp.localDisplay, pad(s.hostname, 16), pad(s.tags.joined(separator: ","), 12)].joined(separator: " ") + " "
            if reasons { line += pad(d.reasons.first ?? "", rw) + "  " }
            stdout(line + s.paths.joined(separator: ", "))
            if reasons {
                for r in d.reasons.dropFirst() { stdout(String(repeating: " ", count: 9 + 20 + 17 + 13) + r) }
            }
        }
        stdout(String(repeating: "-", count: max(90, head.count + 20)))
    }
}
