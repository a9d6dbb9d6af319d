import ArgumentParser
import CairnCommands
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
        var c = RestoreCommand(snapshot: snapshot, target: target)
        c.filter = try filters.filter
        c.options.includes = include; c.options.excludes = exclude; c.options.overwrite = overwrite
        c.options.verify = verify; c.options.force = force
        c.fromStream = fromStream
        let result: RestoreCommand.Result
        do { result = try global.runWithProgress(c, verb: "restore") }
        catch RepositoryError.interrupted { stderr("interrupted: restore incomplete"); throw ExitWith(code: .interrupted) }
        for n in result.notes { stderr("note: \(n)") }
        for w in result.warnings { stderr("warning: \(w)") }
        for d in result.marked_damaged { stderr("note: \(d): marked damaged by `repair snapshots`; restored with what was salvaged") }
        let id = result.snapshot.prefix(8)
        if global.json {
            if let stream = result.stream {
                struct Out: Encodable { var snapshot: String; var stream: String; var files: Int; var dirs: Int; var bytes: UInt64; var skipped: Int; var warnings: [String]; var notes: [String] }
                try global.emit(json: Out(snapshot: result.snapshot, stream: stream, files: result.files, dirs: result.dirs, bytes: result.bytes,
                                          skipped: result.skipped, warnings: result.warnings, notes: result.notes))
            } else {
                struct Out: Encodable { var snapshot: String; var files: Int; var dirs: Int; var bytes: UInt64; var skipped: Int; var verified: Int; var warnings: [String]; var marked_damaged: [String] }
                try global.emit(json: Out(snapshot: result.snapshot, files: result.files, dirs: result.dirs, bytes: result.bytes, skipped: result.skipped,
                                          verified: result.verified, warnings: result.warnings, marked_damaged: result.marked_damaged))
            }
        } else if !global.quiet {
            if let stream = result.stream {
                stdout("restored the members of \(stream) in snapshot \(id) to \(target): \(result.files) files, \(result.dirs) dirs, \(formatBytes(result.bytes))"
                       + (result.skipped > 0 ? ", \(result.skipped) skipped" : ""))
            } else {
                stdout("restored snapshot \(id) to \(target): \(result.files) files, \(result.dirs) dirs, \(formatBytes(result.bytes))"
                       + (result.skipped > 0 ? ", \(result.skipped) skipped" : "") + (verify ? ", \(result.verified) verified" : ""))
            }
        }
        if !result.warnings.isEmpty { throw ExitWith(code: .fatal) }
    }
}

func splitSnapshotPath(_ s: String) -> (String, String) { RestoreCommand.split(s) }

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
