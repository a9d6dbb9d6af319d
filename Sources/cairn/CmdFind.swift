import ArgumentParser
import CairnCommands
import CairnCore
import CairnBrowse
import CairnTree
import CairnFormat
import CairnRepository
import FoundationEssentials

struct Find: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find files and folders in snapshots (restic's find).",
        discussion: "A pattern's parts (split at /) are globs matching consecutive path components anywhere in the path; a leading / anchors it at the root, ** matches any number of components.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var filters: FilterOptions
    @Argument(help: "Patterns (a match of any one counts).") var patterns: [String]
    @Option(name: [.short, .customLong("snapshot")], help: "Only this snapshot (ID, prefix or `latest`; repeatable).") var snapshots: [String] = []
    @Flag(name: [.short, .customLong("ignore-case")], help: "Ignore case in patterns and paths.") var ignoreCase = false
    @Option(name: [.customShort("O"), .long], help: ArgumentHelp("Only entries modified at or after this local time (2006-01-02[ 15:04[:05]]).", valueName: "time")) var oldest: String?
    @Option(name: [.customShort("N"), .long], help: ArgumentHelp("Only entries modified at or before this local time.", valueName: "time")) var newest: String?
    @Flag(name: [.short, .long], help: "Mode, owner, size and time too.") var long = false

    func run() throws {
        var query = FindQuery(patterns: patterns, ignoreCase: ignoreCase)
        query.oldest = try oldest.map(parseTime); query.newest = try newest.map(parseTime)
        var c = FindCommand(query)
        c.snapshots = snapshots
        c.filter = try filters.filter
        struct Group: Encodable { var matches: [LsEntry]; var hits: Int; var snapshot: String }
        var groups: [Group] = []
        for found in try global.run(c) {
            if !global.json && !global.quiet {
                if !groups.isEmpty { stdout("") }
                stdout("Found matching entries in snapshot \(found.id.short) from \(found.snapshot.timestamp.localDisplay)")
            }
            let out = LsOutput(json: global.json, long: long)
            for (path, node) in found.matches { out.emit(path, node) }
            groups.append(Group(matches: out.entries, hits: found.matches.count, snapshot: found.id.hex))
        }
        if global.json { try global.emit(json: groups) }
    }

    func parseTime(_ s: String) throws -> Timestamp {
        guard let t = Timestamp.parse(s) else { throw ValidationError("cannot read time \(s): use 2006-01-02, 2006-01-02 15:04 or 2006-01-02 15:04:05") }
        return t
    }
}
