import ArgumentParser
import CairnCommands
import CairnChunking
import CairnCore
import CairnArchive
import CairnTree
import CairnRepository
import CairnStorage
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

struct Backup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "files",
        abstract: "Back up files, folders or a stream (the default of `cairn backup`).",
        discussion: "Exit 3 when some source files could not be read (the snapshot is written without them).")
    @OptionGroup var global: GlobalOptions

    @Argument(help: "Files and folders to back up.") var paths: [String] = []
    @OptionGroup var excludes: ExcludeOptions
    @Flag(name: [.short, .customLong("one-file-system")], help: "Do not cross file system boundaries.") var oneFileSystem = false
    @Option(help: "Add a tag (repeatable; a,b adds both).") var tag: [String] = []
    @Option(help: "Host name to record (default: this machine's).") var host: String?
    @Flag(name: [.short, .customLong("dry-run")], help: "Do not write anything; report what would be added.") var dryRun = false
    @Flag(help: "Read every file even when the parent snapshot says it is unchanged.") var force = false
    @Option(help: "Use this snapshot as the parent (default: the latest with the same host and paths).") var parent: String?
    @Flag(help: "Read the data to back up from standard input.") var stdin = false
    @Option(name: .customLong("stdin-filename"), help: "File name for --stdin data.") var stdinFilename = "stdin"
    @Flag(name: .customLong("stdin-from-command"), help: "Run the command after -- and back up its output.") var stdinFromCommand = false
    @Option(help: ArgumentHelp("Record this time instead of now.", valueName: "time")) var time: String?
    @Option(name: .customLong("stream-format"),
            help: ArgumentHelp("How a stream is cut: tar (at member boundaries), raw, or auto (tar when it starts with a tar header; the default).",
                               valueName: "auto|tar|raw")) var streamFormat: StreamFormat?
    @Flag(help: "Store a gzip, zstd or xz stream decompressed, so it dedups and tar streams are cut at their members (restore and dump give it decompressed; the name loses .gz/.zst/.xz).")
    var decompress = false

    func validate() throws {
        if stdin || stdinFromCommand {
            if !paths.isEmpty && stdin { throw ValidationError("--stdin takes no paths") }
            if stdinFromCommand && paths.isEmpty { throw ValidationError("--stdin-from-command needs a command: cairn backup --stdin-from-command -- CMD ARG...") }
        } else if paths.isEmpty {
            throw ValidationError("nothing to back up: give paths, or --stdin")
        } else if streamFormat != nil || decompress {
            throw ValidationError("--stream-format and --decompress apply to --stdin and --stdin-from-command only")
        }
    }

    func run() throws {
        var o = BackupOptions()
        o.excludes = try excludes.patterns
        o.oneFileSystem = oneFileSystem
        o.tags = tag.flatMap { $0.split(separator: ",").map(String.init) }
        if let host { o.hostname = host }
        o.dryRun = dryRun
        o.force = force
        if let streamFormat { o.streamFormat = streamFormat }
        o.decompress = decompress
        if let time {
            guard let t = Timestamp.parse(time) else { throw ValidationError("cannot read time \(time)") }
            o.time = t
        }
        let input: BackupCommand.Input
        if stdinFromCommand {
            input = .command(argv: paths, name: stdinFilename == "stdin" ? (URL(fileURLWithPath: paths[0]).lastPathComponent) : stdinFilename)
        } else if stdin {
            input = .stream(name: stdinFilename) { buf in
                let n = Glibc.read(0, buf.baseAddress, buf.count)
                if n < 0 { throw RepositoryError.invalidArgument("reading standard input: \(String(cString: strerror(errno)))") }
                return n
            }
        } else {
            input = .paths(paths)
        }
        var c = BackupCommand(input, options: o)
        c.parent = parent
        let repo = try global.open()
        let progress = OperationProgress()
        let line = ProgressLine(progress, verb: "backup", enabled: global.showProgress)
        // The steps (packs reused, uploads cleaned up) are notes on standard error, not for --json.
        var context = global.context(progress: progress)
        if global.json { let events = context.events; context.events = { if case .warning = $0 { events($0) } } }
        let result: BackupCommand.Result
        do { result = try c.execute(repo, context) }
        catch RepositoryError.interrupted {
            line.stop()
            let s = repo.writeStats
            stderr("interrupted: \(s.packsWritten) pack(s) with \(formatBytes(s.plainBytesAdded)) of new data were written and indexed; no snapshot was saved. The next backup reuses them.")
            throw ExitWith(code: .interrupted)
        }
        line.stop()
        report(result)
        if !result.warnings.isEmpty { throw ExitWith(code: .incomplete) }
    }

    func report(_ r: BackupCommand.Result) {
        let s = r.summary
        if global.json {
            struct Out: Encodable { var snapshot_id: String?; var parent: String?; var dry_run: Bool; var summary: CairnFormatSummary; var warnings: [String]; var notices: [String] }
            try? global.emit(json: Out(snapshot_id: r.snapshot_id, parent: r.parent, dry_run: r.dry_run, summary: s, warnings: r.warnings, notices: r.notices))
            return
        }
        for w in r.warnings { stderr("warning: \(w)") }
        for n in r.notices { stderr("warning: \(n)") }
        guard !global.quiet else { return }
        if let p = r.parent { stdout("using parent snapshot \(p.prefix(8))") }
        stdout("Files:       \(s.filesNew) new, \(s.filesChanged) changed, \(s.filesUnmodified) unmodified")
        stdout("Dirs:        \(s.dirs)")
        stdout("Read:        \(formatBytes(s.bytesRead)) of \(formatBytes(s.totalBytes)) in \(s.totalFiles) files")
        stdout("Added:       \(formatBytes(s.bytesAdded)) (\(formatBytes(s.bytesStored)) stored)")
        if !r.warnings.isEmpty { stdout("Errors:      \(r.warnings.count) file(s) could not be read") }
        stdout("Duration:    \(fixed(s.durationSeconds, 2))s")
        if let id = r.snapshot_id { stdout("snapshot \(id.prefix(8)) saved") } else { stdout("dry run: nothing written") }
    }
}

import CairnFormat
typealias CairnFormatSummary = Snapshot.Summary

extension StreamFormat: ExpressibleByArgument {}
