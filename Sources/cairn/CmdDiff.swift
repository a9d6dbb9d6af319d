import ArgumentParser
import CairnCommands
import CairnCore
import CairnBrowse
import CairnTree
import CairnFormat
import CairnRepository
import FoundationEssentials

struct Diff: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what changed between two snapshots (restic's diff).",
        discussion: "+ added, - removed, M content changed, T type changed, U metadata changed (with --metadata); folders end in /.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Snapshot (ID, prefix or `latest`), or SNAPSHOT:FOLDER to compare one folder.") var first: String
    @Argument(help: "The snapshot (or SNAPSHOT:FOLDER) to compare it with.") var second: String
    @Flag(help: "Also list entries whose metadata alone changed (U).") var metadata = false

    func run() throws {
        var c = DiffCommand(first, second)
        c.metadata = metadata
        let json = global.json, quiet = global.quiet
        c.onChange = { change in
            if json { try emitLine(json: DiffChangeLine(path: change.path, modifier: change.modifier)) }
            else { stdout(pad(change.modifier, 5) + change.path) }
        }
        c.onStart = { a, b in if !json && !quiet { stdout("comparing snapshot \(a.short) to \(b.short):\n") } }
        let stats = try global.run(c)
        if json {
            try emitLine(json: DiffStatisticsLine(source_snapshot: stats.source_snapshot, target_snapshot: stats.target_snapshot,
                                                  changed_files: stats.changed_files, added: stats.added, removed: stats.removed))
            return
        }
        func num(_ n: Int) -> String { String(repeating: " ", count: max(0, 5 - String(n).count)) + String(n) }
        let a = stats.added, r = stats.removed
        stdout("")
        stdout("Files:       \(num(a.files)) new, \(num(r.files)) removed, \(num(stats.changed_files)) changed")
        stdout("Dirs:        \(num(a.dirs)) new, \(num(r.dirs)) removed")
        stdout("Others:      \(num(a.others)) new, \(num(r.others)) removed")
        stdout("Data Blobs:  \(num(a.dataBlobs)) new, \(num(r.dataBlobs)) removed")
        stdout("Tree Blobs:  \(num(a.treeBlobs)) new, \(num(r.treeBlobs)) removed")
        stdout("  Added:   \(formatBytes(a.bytes))")
        stdout("  Removed: \(formatBytes(r.bytes))")
    }
}

/// `diff --json`: one object per line, as restic's later versions print them.
struct DiffChangeLine: Encodable {
    var message_type = "change"
    var path: String
    var modifier: String
}

struct DiffStatisticsLine: Encodable {
    var message_type = "statistics"
    var source_snapshot: String
    var target_snapshot: String
    var changed_files: Int
    var added: DiffCounts
    var removed: DiffCounts
}
