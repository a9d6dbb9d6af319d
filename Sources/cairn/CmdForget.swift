import ArgumentParser
import CairnCommands
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

    func run() throws {
        var c = ForgetCommand()
        c.snapshots = snapshots
        c.policy = keep.policy
        c.groupBy = RetentionGroupBy(parsing: groupBy)!
        c.filter = try filters.filter
        c.dryRun = dryRun
        if prune { c.prune = PruneOptions() }
        let show = !global.json && !global.quiet
        if show && snapshots.isEmpty && !c.policy.isEmpty { stdout("Applying policy: \(c.policy)") }
        let r = try global.run(c)
        if global.json {
            if !snapshots.isEmpty { try global.emit(json: r.removed) } else { try global.emit(json: r.groups) }
        }
        if show {
            for e in r.named {
                stdout("\(dryRun ? "would remove" : "remove") snapshot \(e.short_id) of \(e.paths.joined(separator: ", ")) at \(Timestamp.parse(e.time)?.localDisplay ?? e.time)")
            }
            for g in r.groups {
                let key = g.key
                if g.saved_policy { stdout("\nApplying the policy saved for \(Self.describe(key)): \(g.policy)") }
                stdout("")
                stdout(key.host == nil && key.paths == nil && key.tags == nil ? "snapshots:" : "snapshots for \(Self.describe(key)):")
                let kept = g.decisions.filter(\.keep), gone = g.decisions.filter { !$0.keep }
                if !kept.isEmpty { stdout("keep \(kept.count) snapshot(s):"); printTable(kept, reasons: true) }
                if !gone.isEmpty { stdout("\(dryRun ? "would remove" : "remove") \(gone.count) snapshot(s):"); printTable(gone, reasons: false) }
            }
        }
        if snapshots.isEmpty && c.policy.isEmpty && !global.json {
            if r.groups.isEmpty { stderr("no policy was given (--keep-*) and none is saved (cairn policy set), no snapshots will be removed") }
            else if r.groups_without_policy > 0 { stderr("\(r.groups_without_policy) group(s) have no saved policy and were left alone") }
        }
        if show {
            stdout("")
            stdout(dryRun ? "would remove \(r.removed.count) snapshot(s) (dry run: nothing changed)"
                          : "removed \(r.removed.count) snapshot(s)" + (prune ? "; pruning" : "; run `cairn prune` to free the data only they used"))
        }
        if let p = r.prune, !global.json { report(p, global) }
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
    func printTable(_ newestFirst: [ForgetCommand.Decision], reasons: Bool) {
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
