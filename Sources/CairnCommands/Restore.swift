import CairnCore
import CairnFormat
import CairnRepository
import CairnRestore
import CairnTree

/// `restore SNAPSHOT[:PATH] --target FOLDER`: a snapshot, or a path in it, into a folder. When
/// the snapshot is a tar stream and the path reaches inside it (`SNAPSHOT:STREAM:PATH`) or
/// `fromStream` is set, the stream's members are unpacked instead of the tar file
/// (format-spec §13.5), under the same rules for untrusted names.
public struct RestoreCommand: RepositoryCommand {
    /// `SNAPSHOT[:PATH]`: an ID, unique prefix or `latest`, and a path in it.
    public var snapshot: String
    public var filter = SnapshotFilter()
    public var target: String
    public var options = RestoreOptions()
    public var fromStream = false

    public init(snapshot: String, target: String) { self.snapshot = snapshot; self.target = target }

    public var operation: String { "restore" }
    public var lock: LockNeed { .shared(readOnly: true) }

    public struct Result: Encodable, Sendable {
        public var snapshot: String
        /// The tar stream whose members were restored; nil: the snapshot's own files.
        public var stream: String?
        public var files: Int, dirs: Int, bytes: UInt64, skipped: Int, verified: Int
        /// Files not restored completely (write errors, damaged data, an include that matched nothing): exit 1.
        public var warnings: [String]
        /// Paths `repair snapshots` marked damaged, restored with what was salvaged.
        public var marked_damaged: [String]
        /// Notes of a tar stream's extraction (members skipped by rule).
        public var notes: [String]
    }

    /// `SNAPSHOT:PATH` → (SNAPSHOT, PATH); no colon → (SNAPSHOT, "").
    public static func split(_ s: String) -> (snapshot: String, path: String) {
        guard let i = s.firstIndex(of: ":") else { return (s, "") }
        return (String(s[..<i]), String(s[s.index(after: i)...]))
    }

    public func run(_ repo: Repository, _ context: CommandContext) throws -> Result {
        try repo.loadIndex()
        let (spec, path) = Self.split(snapshot)
        let (id, snap) = try repo.resolveSnapshot(spec, filter: filter)
        if let r = try restoreMembers(repo, id: id, snap: snap, path: path, context) { return r }
        guard let root = snap.treeID else { throw RepositoryError.damaged("snapshot \(id.short) names no tree") }
        let node = try repo.node(at: path, root: root)
        context.progress.update { $0.totalBytes = path.isEmpty || path == "/" ? snap.summary.totalBytes : nil }
        let r = try Restorer(repository: repo, options: options, progress: context.progress)
            .restore(node: node, displayPath: Array(path.utf8), target: target)
        return Result(snapshot: id.hex, stream: nil, files: r.files, dirs: r.dirs, bytes: r.bytes, skipped: r.skipped, verified: r.verified,
                      warnings: r.warnings, marked_damaged: r.markedDamaged, notes: [])
    }

    /// The members of a tar stream, when the path reaches inside it or `fromStream` asks; nil otherwise.
    func restoreMembers(_ repo: Repository, id: ID, snap: Snapshot, path: String, _ context: CommandContext) throws -> Result? {
        guard let tar = try TarStream.open(repository: repo, snapshot: snap) else {
            guard !fromStream else {
                throw RepositoryError.invalidArgument("--from-stream: snapshot \(id.short) is not a stream snapshot that holds a tar (ls shows what it holds)")
            }
            return nil
        }
        let inner: [PathBytes]
        if let i = tar.inner(path), fromStream || !i.isEmpty {
            inner = i
        } else if fromStream && path.split(separator: "/").isEmpty {
            inner = []
        } else if fromStream {
            throw RepositoryError.invalidArgument("--from-stream: \(path) is not the stream \(tar.node.nameString) (give SNAPSHOT, SNAPSHOT:\(tar.node.nameString) or SNAPSHOT:\(tar.node.nameString):PATH)")
        } else {
            return nil
        }
        guard !options.verify else { throw RepositoryError.invalidArgument("--verify is not supported when restoring the members of a tar stream") }
        let extractor = TarExtractor(stream: tar, repository: repo, options: options, progress: context.progress)
        let r = try extractor.extract(under: inner, target: target)
        return Result(snapshot: id.hex, stream: tar.node.nameString, files: r.files, dirs: r.dirs, bytes: r.bytes, skipped: r.skipped,
                      verified: 0, warnings: r.warnings, marked_damaged: [], notes: extractor.notes)
    }
}
