import CairnArchive
import CairnCore
import CairnFormat
import CairnRepository
import CairnStorage
import CairnTree
#if canImport(Glibc)
import Glibc
#endif

/// `backup`: files and folders, a stream, or the output of a command, into one snapshot. It
/// first picks up what an interrupted run left: packs stored but not indexed are adopted,
/// multipart uploads it never finished are aborted (another host's only when a day old), and
/// stale temporary files of the store are removed.
public struct BackupCommand: RepositoryCommand {
    public enum Input: Sendable {
        case paths([String])
        /// A stream saved as one file named `name`; `read` fills a buffer, 0 at the end.
        case stream(name: String, read: @Sendable (UnsafeMutableRawBufferPointer) throws -> Int)
        /// What `argv` writes to standard output, as one file named `name`; no snapshot when
        /// the command exits non-zero.
        case command(argv: [String], name: String)
    }

    public var input: Input
    public var options: BackupOptions
    /// The parent snapshot by ID, prefix or `latest` (default: the latest of the same host and paths).
    public var parent: String?

    public init(_ input: Input, options: BackupOptions = BackupOptions()) { self.input = input; self.options = options }

    public var operation: String { "backup" }
    public var lock: LockNeed { .shared(readOnly: false) }

    public struct Result: Encodable, Sendable {
        public var snapshot_id: String?
        public var parent: String?
        public var dry_run: Bool
        public var summary: Snapshot.Summary
        /// Files that could not be read (left out; exit 3).
        public var warnings: [String]
        public var notices: [String]
        /// Packs an interrupted earlier run left, now indexed and reused.
        public var packs_reused: Int
    }

    public func run(_ repo: Repository, _ context: CommandContext) throws -> Result {
        (repo.backend as? any TemporaryCleaning)?.removeStaleTemporaries(olderThan: 3600)
        try repo.loadIndex()
        let reused = try context.adoptLeftoverPacks(repo)
        if let multipart = repo.backend as? any MultipartBackend {
            do {
                let aborted = try multipart.cleanUpInterruptedUploads(olderThanSeconds: 86_400)
                if aborted > 0 { context.step("cleaned up \(aborted) interrupted upload(s)") }
            } catch {
                context.warn("could not clean up interrupted uploads: \(error)")
            }
        }
        var o = options
        if let parent { o.parent = try repo.resolveSnapshot(parent).0 }
        let archiver = Archiver(repository: repo, options: o, progress: context.progress)
        let r: BackupResult
        switch input {
        case .paths(let paths): r = try archiver.backup(paths: paths)
        case .stream(let name, let read): r = try archiver.backup(streamNamed: name, read: read)
        case .command(let argv, let name): r = try Self.backup(command: argv, name: name, archiver)
        }
        return Result(snapshot_id: r.snapshotID?.hex, parent: r.parent?.hex, dry_run: o.dryRun, summary: r.snapshot.summary,
                      warnings: r.warnings, notices: r.notices, packs_reused: reused)
    }

    static func backup(command argv: [String], name: String, _ archiver: Archiver) throws -> BackupResult {
        let p: Subprocess
        do { p = try Subprocess(argv) } catch { throw RepositoryError.invalidArgument("\(error)") }
        do {
            return try archiver.backup(streamNamed: name) { buf in
                try p.readOutput(buf) { status in
                    guard status == 0 else {
                        throw RepositoryError.invalidArgument("command `\(argv.joined(separator: " "))` exited with status \(status): no snapshot was saved")
                    }
                }
            }
        } catch {
            if p.isRunning { p.terminate() }
            throw error
        }
    }
}
