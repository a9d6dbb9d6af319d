import ArgumentParser
import CairnCommands
import CairnCore
import CairnRetention
import CairnFormat
import CairnRepository
import FoundationEssentials

struct Tag: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add, remove or set the tags of snapshots.",
        discussion: """
        A snapshot file cannot change, so a snapshot with new tags is a new snapshot: same \
        tree and time, `original` naming the first ID it had. It is saved before the old one \
        is deleted. Without SNAPSHOT arguments, every snapshot the filters (--host, --tag, \
        --path) match is changed. Values may be comma-separated lists (a,b).
        """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var filters: FilterOptions
    @Option(name: .customLong("add"), help: ArgumentHelp("Add this tag (repeatable).", valueName: "tags")) var add: [String] = []
    @Option(name: .customLong("remove"), help: ArgumentHelp("Remove this tag (repeatable).", valueName: "tags")) var remove: [String] = []
    @Option(name: .customLong("set"), help: ArgumentHelp("Replace all tags with these (repeatable; --set '' removes all).", valueName: "tags")) var set: [String] = []
    @Argument(help: "Snapshots to change (IDs, prefixes or `latest`; default: all the filters match).") var snapshots: [String] = []

    func validate() throws {
        if !set.isEmpty && !(add.isEmpty && remove.isEmpty) { throw ValidationError("--set cannot be combined with --add or --remove") }
        if set.isEmpty && add.isEmpty && remove.isEmpty { throw ValidationError("nothing to do: give --add, --remove or --set") }
    }

    static func split(_ values: [String]) -> [String] {
        values.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmed } }
    }

    func run() throws {
        var c = TagCommand()
        c.snapshots = snapshots
        c.filter = try filters.filter
        c.add = Self.split(add); c.remove = Self.split(remove); c.set = set.isEmpty ? nil : Self.split(set)
        let r = try global.run(c, stepsOnStdout: !global.json)
        if global.json { try global.emit(json: r.changes); return }
        if !global.quiet { stdout("\(r.changes.count) snapshot(s) changed, \(r.unchanged) already had those tags") }
    }
}
