import ArgumentParser
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
        let repo = try global.open()
        try repo.loadIndex()
        let (aID, aTree) = try folder(repo, first), (bID, bTree) = try folder(repo, second)
        if !global.json && !global.quiet { stdout("comparing snapshot \(aID.short) to \(bID.short):\n") }
        let stats = try SnapshotDiff.run(repo, from: aTree, to: bTree, metadata: metadata) { c in
            if global.json { try emitLine(json: DiffChangeLine(path: c.path, modifier: c.modifier)) }
            else { stdout(pad(c.modifier, 5) + c.path) }
        }
        if global.json {
            try emitLine(json: DiffStatisticsLine(source_snapshot: aID.hex, target_snapshot: bID.hex, changed_files: stats.changedFiles,
                                                  added: stats.added, removed: stats.removed))
            return
        }
        func num(_ n: Int) -> String { String(repeating: " ", count: max(0, 5 - String(n).count)) + String(n) }
        let a = stats.added, r = stats.removed
        stdout("")
        stdout("Files:       \(num(a.files)) new, \(num(r.files)) removed, \(num(stats.changedFiles)) changed")
        stdout("Dirs:        \(num(a.dirs)) new, \(num(r.dirs)) removed")
        stdout("Others:      \(num(a.others)) new, \(num(r.others)) removed")
        stdout("Data Blobs:  \(num(a.dataBlobs)) new, \(num(r.dataBlobs)) removed")
        stdout("Tree Blobs:  \(num(a.treeBlobs)) new, \(num(r.treeBlobs)) removed")
        stdout("  Added:   \(formatBytes(a.bytes))")
        stdout("  Removed: \(formatBytes(r.bytes))")
    }

    /// The snapshot and the folder tree a SNAPSHOT[:FOLDER] argument names.
    func folder(_ repo: Repository, _ spec: String) throws -> (ID, ID) {
        let (snap, path) = spec.firstIndex(of: ":").map { (String(spec[..<$0]), String(spec[spec.index(after: $0)...])) } ?? (spec, "/")
        let (id, s) = try repo.resolveSnapshot(snap)
        guard let root = s.treeID else { throw RepositoryError.invalidArgument("snapshot \(id.short) has no tree") }
        guard let tree = try repo.node(at: path, root: root).subtree else { throw RepositoryError.invalidArgument("\(path) is not a folder in snapshot \(id.short)") }
        return (id, tree)
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
