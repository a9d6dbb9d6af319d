import ArgumentParser
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
        let repo = try global.open()
        let lock = try global.writeLock(repo, exclusive: true, operation: "tag")
        defer { lock.release() }
        let f = try filters.filter
        let (all, targets) = try selectSnapshots(repo, named: snapshots, filter: f)
        struct Change: Encodable { var old: String; var new: String; var tags: [String] }
        var changes: [Change] = []
        let add = Self.split(self.add), remove = Self.split(self.remove), set = self.set.isEmpty ? nil : Self.split(self.set)
        for (id, snap) in targets {
            try repo.checkCancelled()
            guard let tags = Repository.retagged(snap.tags, add: add, remove: remove, set: set) else { continue }
            let newID = try repo.saveRetagged(id, snap, tags: tags, existing: all)
            changes.append(Change(old: id.hex, new: newID.hex, tags: tags))
            if !global.json && !global.quiet { stdout("snapshot \(id.short) -> \(newID.short): tags [\(tags.joined(separator: ", "))]") }
        }
        if global.json { try global.emit(json: changes); return }
        if !global.quiet { stdout("\(changes.count) snapshot(s) changed, \(targets.count - changes.count) already had those tags") }
    }
}
