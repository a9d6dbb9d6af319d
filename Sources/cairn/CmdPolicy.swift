import ArgumentParser
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

    func groups(_ all: [(ID, Snapshot)]) throws -> [(key: RetentionGroupKey, snapshots: [(ID, Snapshot)])] {
        let f = try filters.filter
        return Retention.group(all.filter { f.matches($0.1) }, by: RetentionGroupBy(parsing: groupBy)!)
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
        try change(policy.saved, global: global, scope: scope, verb: "saved")
    }
}

struct PolicyClear: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "clear", abstract: "Remove the saved policy of every group the filters match.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var scope: PolicyGroups

    func run() throws { try change(nil, global: global, scope: scope, verb: "cleared") }
}

/// Saves (or clears) a policy under an exclusive lock and says which snapshots now hold it.
private func change(_ policy: SavedPolicy?, global: GlobalOptions, scope: PolicyGroups, verb: String) throws {
    let repo = try global.open()
    let lock = try global.writeLock(repo, exclusive: true, operation: "policy")
    defer { lock.release() }
    // An unreadable snapshot may be a group's newest: refuse unless told to leave it out.
    _ = try repo.matchingSnapshots(try scope.filters.filter)
    let (all, _) = try repo.snapshots()
    let groups = try scope.groups(all)
    if groups.isEmpty { throw RepositoryError.invalidArgument("no snapshot matches the filters: a policy is saved in a group's snapshots, back up first") }
    let done = try repo.savePolicy(policy, groups: groups, existing: all)
    if global.json {
        struct Out: Encodable { var group: RetentionGroupKey; var replaced: [[String]] }
        try global.emit(json: done.map { Out(group: $0.0, replaced: $0.1.map { [$0.0.hex, $0.1.hex] }) })
        return
    }
    for (key, changed) in done where !global.quiet {
        let what = changed.isEmpty ? "unchanged" : changed.map { "snapshot \($0.0.short) -> \($0.1.short)" }.joined(separator: ", ")
        stdout("\(Forget.describe(key)): policy \(changed.isEmpty ? "already " + verb : verb) (\(what))")
    }
}

struct PolicyShow: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show each group's saved policy.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var scope: PolicyGroups

    func run() throws {
        let repo = try global.open()
        let (all, _) = try repo.snapshots()
        struct Out: Encodable { var group: RetentionGroupKey; var snapshot: String?; var retention: SavedPolicy? }
        var out: [Out] = []
        for (key, members) in try scope.groups(all) {
            let c = Retention.policyCarrier(members)
            out.append(Out(group: key, snapshot: c?.0.hex, retention: c?.1.retention))
            if global.json || global.quiet { continue }
            if let c, let r = c.1.retention { stdout("\(Forget.describe(key)): \(try RetentionPolicy(saved: r)) (in snapshot \(c.0.short))") }
            else { stdout("\(Forget.describe(key)): no saved policy") }
        }
        if global.json { try global.emit(json: out) }
    }
}
