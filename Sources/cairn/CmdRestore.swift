import ArgumentParser
import CairnStorage
import CairnCore
import CairnRestore
import CairnTree
import CairnFormat
import CairnRepository
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "files", abstract: "Restore a snapshot (or a path in it) into a folder (the default of `cairn restore`).")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var filters: FilterOptions

    @Argument(help: "SNAPSHOT[:PATH] — an ID, unique prefix or `latest`.") var snapshot: String
    @Option(name: [.short, .long], help: "Folder to restore into (created if missing).") var target: String
    @Option(name: [.short, .long], help: "Restore only matching paths (repeatable).") var include: [String] = []
    @Option(name: [.short, .long], help: "Skip matching paths (repeatable).") var exclude: [String] = []
    @Option(help: "Existing files: always | if-changed | never.") var overwrite = OverwritePolicy.always
    @Flag(help: "Re-read restored files and check them against the snapshot.") var verify = false
    @Flag(help: "Unpack the members of a tar stream snapshot instead of the tar file (also SNAPSHOT:STREAM:PATH).") var fromStream = false
    @Flag(help: "Restore even when the target's file system has less free space than the files need.") var force = false

    func run() throws {
        let repo = try global.open()
        let lock = try global.readLock(repo, operation: "restore")
        defer { lock?.release() }
        try repo.loadIndex()
        let (spec, path) = splitSnapshotPath(snapshot)
        let (id, snap) = try repo.resolveSnapshot(spec, filter: try filters.filter)
        var o = RestoreOptions()
        o.includes = include; o.excludes = exclude; o.overwrite = overwrite; o.verify = verify; o.force = force
        if try restoreMembers(repo, id: id, snap: snap, path: path, fromStream: fromStream, options: o, target: target, global: global) { return }
        let node = try repo.node(at: path, root: snap.treeID!)
        let progress = OperationProgress()
        progress.update { $0.totalBytes = path.isEmpty || path == "/" ? snap.summary.totalBytes : nil }
        let line = ProgressLine(progress, verb: "restore", enabled: global.showProgress)
        let restorer = Restorer(repository: repo, options: o, progress: progress)
        let result: RestoreResult
        do { result = try restorer.restore(node: node, displayPath: Array(path.utf8), target: target) }
        catch RepositoryError.interrupted { line.stop(); stderr("interrupted: restore incomplete"); throw ExitWith(code: .interrupted) }
        line.stop()
        for w in result.warnings { stderr("warning: \(w)") }
        for d in result.markedDamaged { stderr("note: \(d): marked damaged by `repair snapshots`; restored with what was salvaged") }
        if global.json {
            struct Out: Encodable { var snapshot: String; var files: Int; var dirs: Int; var bytes: UInt64; var skipped: Int; var verified: Int; var warnings: [String]; var marked_damaged: [String] }
            try global.emit(json: Out(snapshot: id.hex, files: result.files, dirs: result.dirs, bytes: result.bytes, skipped: result.skipped, verified: result.verified, warnings: result.warnings, marked_damaged: result.markedDamaged))
        } else if !global.quiet {
            stdout("restored snapshot \(id.short) to \(target): \(result.files) files, \(result.dirs) dirs, \(formatBytes(result.bytes))"
                   + (result.skipped > 0 ? ", \(result.skipped) skipped" : "") + (verify ? ", \(result.verified) verified" : ""))
        }
        if !result.warnings.isEmpty { throw ExitWith(code: .fatal) }
    }
}

func splitSnapshotPath(_ s: String) -> (String, String) {
    guard let i = s.firstIndex(of: ":") else { return (s, "") }
    return (String(s[..<i]), String(s[s.index(after: i)...]))
}

struct Dump: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write a file (or a stream snapshot) from a snapshot to standard output.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var filters: FilterOptions
    @Argument(help: "Snapshot ID, prefix or `latest`.") var snapshot: String
    @Argument(help: "Path of the file in the snapshot (default: the only file of a stream snapshot); STREAM:PATH for a member of a tar stream.") var path: String?

    func run() throws {
        let repo = try global.open()
        try repo.loadIndex()
        let (_, snap) = try repo.resolveSnapshot(snapshot, filter: try filters.filter)
        var node: Node
        if let path, try dumpMember(repo, snap, path: path) { return }
        if let path { node = try repo.node(at: path, root: snap.treeID!) } else {
            let root = try repo.loadTree(snap.treeID!)
            guard root.nodes.count == 1, root.nodes[0].type == .file else { throw ValidationError("give the path of a file in the snapshot") }
            node = root.nodes[0]
        }
        try repo.dump(node) { try writeAll(1, $0) }
    }
}
