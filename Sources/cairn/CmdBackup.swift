import ArgumentParser
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
        let repo = try global.open()
        let lock = try global.writeLock(repo, exclusive: false, operation: "backup")
        defer { lock.release() }
        (repo.backend as? any TemporaryCleaning)?.removeStaleTemporaries(olderThan: 3600)
        try repo.loadIndex()
        try resumeInterrupted(repo)

        var o = BackupOptions()
        o.excludes = try excludes.patterns
        o.oneFileSystem = oneFileSystem
        o.tags = tag.flatMap { $0.split(separator: ",").map(String.init) }
        if let host { o.hostname = host }
        o.dryRun = dryRun
        o.force = force
        if let streamFormat { o.streamFormat = streamFormat }
        o.decompress = decompress
        if let parent { o.parent = try repo.resolveSnapshot(parent).0 }
        if let time {
            guard let t = Timestamp.parse(time) else { throw ValidationError("cannot read time \(time)") }
            o.time = t
        }
        let progress = OperationProgress()
        let line = ProgressLine(progress, verb: "backup", enabled: global.showProgress)
        let archiver = Archiver(repository: repo, options: o, progress: progress)
        let result: BackupResult
        do {
            if stdinFromCommand {
                result = try backupCommand(archiver)
            } else if stdin {
                result = try archiver.backup(streamNamed: stdinFilename) { buf in
                    let n = Glibc.read(0, buf.baseAddress, buf.count)
                    if n < 0 { throw RepositoryError.invalidArgument("reading standard input: \(String(cString: strerror(errno)))") }
                    return n
                }
            } else {
                result = try archiver.backup(paths: paths)
            }
        } catch RepositoryError.interrupted {
            line.stop()
            let s = repo.writeStats
            stderr("interrupted: \(s.packsWritten) pack(s) with \(formatBytes(s.plainBytesAdded)) of new data were written and indexed; no snapshot was saved. The next backup reuses them.")
            throw ExitWith(code: .interrupted)
        }
        line.stop()
        report(result)
        if !result.warnings.isEmpty { throw ExitWith(code: .incomplete) }
    }

    /// Picks up what an interrupted run left: packs stored but not indexed are adopted, and
    /// multipart uploads it never finished are aborted (another host's uploads only when over
    /// a day old).
    func resumeInterrupted(_ repo: Repository) throws {
        let adopted = try repo.indexUnindexedPacks()
        let n = adopted.fromJournal + adopted.fromHeaders
        if n > 0 && !global.quiet && !global.json { stderr("reusing \(n) pack(s) left by an interrupted backup or prune") }
        if let multipart = repo.backend as? any MultipartBackend {
            do {
                let aborted = try multipart.cleanUpInterruptedUploads(olderThanSeconds: 86_400)
                if aborted > 0 && !global.quiet && !global.json { stderr("cleaned up \(aborted) interrupted upload(s)") }
            } catch {
                if !global.quiet { stderr("warning: could not clean up interrupted uploads: \(error)") }
            }
        }
    }

    func backupCommand(_ archiver: Archiver) throws -> BackupResult {
        let p: Subprocess
        do { p = try Subprocess(paths) } catch { throw RepositoryError.invalidArgument("\(error)") }
        let name = stdinFilename == "stdin" ? (URL(fileURLWithPath: paths[0]).lastPathComponent) : stdinFilename
        let result: BackupResult
        do {
            result = try archiver.backup(streamNamed: name) { buf in
                try p.readOutput(buf) { status in
                    guard status == 0 else {
                        throw RepositoryError.invalidArgument("command `\(paths.joined(separator: " "))` exited with status \(status): no snapshot was saved")
                    }
                }
            }
        } catch {
            if p.isRunning { p.terminate() }
            throw error
        }
        return result
    }

    func report(_ r: BackupResult) {
        let s = r.snapshot.summary
        if global.json {
            struct Out: Encodable { var snapshot_id: String?; var parent: String?; var dry_run: Bool; var summary: CairnFormatSummary; var warnings: [String]; var notices: [String] }
            try? global.emit(json: Out(snapshot_id: r.snapshotID?.hex, parent: r.parent?.hex, dry_run: dryRun, summary: s, warnings: r.warnings, notices: r.notices))
            return
        }
        for w in r.warnings { stderr("warning: \(w)") }
        for n in r.notices { stderr("warning: \(n)") }
        guard !global.quiet else { return }
        if let p = r.parent { stdout("using parent snapshot \(p.short)") }
        stdout("Files:       \(s.filesNew) new, \(s.filesChanged) changed, \(s.filesUnmodified) unmodified")
        stdout("Dirs:        \(s.dirs)")
        stdout("Read:        \(formatBytes(s.bytesRead)) of \(formatBytes(s.totalBytes)) in \(s.totalFiles) files")
        stdout("Added:       \(formatBytes(s.bytesAdded)) (\(formatBytes(s.bytesStored)) stored)")
        if !r.warnings.isEmpty { stdout("Errors:      \(r.warnings.count) file(s) could not be read") }
        stdout("Duration:    \(fixed(s.durationSeconds, 2))s")
        if let id = r.snapshotID { stdout("snapshot \(id.short) saved") } else { stdout("dry run: nothing written") }
    }
}

import CairnFormat
typealias CairnFormatSummary = Snapshot.Summary

extension StreamFormat: ExpressibleByArgument {}
