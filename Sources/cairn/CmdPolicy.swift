import ArgumentParser
import CairnCommands
import CairnCore
import CairnRetention
import CairnTree
import CairnFormat
import CairnRepository

struct Policy: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Keep policies saved in the repository, per group of snapshots (per source).",
        discussion: """
        A saved policy is what `cairn forget` applies to a group when no --keep-* flag is \
        given. Groups are forget's: host and paths unless --group-by says otherwise (use the \
        same --group-by with forget). The policy is kept in the group's newest snapshot and \
        each backup of the same host and paths carries it forward, so every store that holds \
        the snapshots holds the policies (format-spec §11.2).
        """,
        subcommands: [PolicySet.self, PolicyShow.self, PolicyClear.self])
}

/// What policy set, show and clear share: the filters and the grouping.
struct PolicyGroups: ParsableArguments {
    @OptionGroup var filters: FilterOptions
    @Option(name: [.customShort("g"), .customLong("group-by")], help: ArgumentHelp("Group by host, paths and/or tags, comma-separated ('' = one group).", valueName: "group"))
    var groupBy = "host,paths"

    func validate() throws {
        if RetentionGroupBy(parsing: groupBy) == nil { throw ValidationError("--group-by takes host, paths and tags, comma-separated") }
    }

    var scope: PolicyScope {
        get throws {
            var s = PolicyScope()
            s.filter = try filters.filter
            s.groupBy = RetentionGroupBy(parsing: groupBy)!
            return s
        }
    }
}

struct PolicySet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set", abstract: "Save a keep policy for every group the filters match (--path /srv/www, --tag incus:web).")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var keep: KeepOptions
    @OptionGroup var scope: PolicyGroups

    func run() throws {
        let policy = keep.policy
        guard !policy.isEmpty else { throw ValidationError("give the policy as --keep-* flags (policy clear removes one)") }
        try change(policy, global: global, scope: scope, verb: "saved")
    }
}

struct PolicyClear: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "clear", abstract: "Remove the saved policy of every group the filters match.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var scope: PolicyGroups

    func run() throws { try change(nil, global: global, scope: scope, verb: "cleared") }
}

/// Saves (or clears) a policy and says which snapshots now hold it.
private func change(_ policy: RetentionPolicy?, global: GlobalOptions, scope: PolicyGroups, verb: String) throws {
    let done = try global.run(PolicyChangeCommand(policy: policy, scope: try scope.scope))
    if global.json { try global.emit(json: done); return }
    for c in done where !global.quiet {
        let what = c.replaced.isEmpty ? "unchanged" : c.replaced.map { "snapshot \($0[0].prefix(8)) -> \($0[1].prefix(8))" }.joined(separator: ", ")
        stdout("\(Forget.describe(c.group)): policy \(c.replaced.isEmpty ? "already " + verb : verb) (\(what))")
    }
}

struct PolicyShow: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show each group's saved policy.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var scope: PolicyGroups

    func run() throws {
        let groups = try global.run(PolicyShowCommand(scope: try scope.scope))
        if global.json { try global.emit(json: groups); return }
        for g in groups where !global.quiet {
            if let snapshot = g.snapshot, let r = g.retention { stdout("\(Forget.describe(g.group)): \(try RetentionPolicy(saved: r)) (in snapshot \(snapshot.prefix(8)))") }
            else { stdout("\(Forget.describe(g.group)): no saved policy") }
        }
    }
}
