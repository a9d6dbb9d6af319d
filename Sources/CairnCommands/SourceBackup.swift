import CairnCore
import CairnTree
import CairnArchive
import CairnFormat
import CairnRepository
import CairnSources
import Dispatch

/// `backup KIND NAME...`: one stream snapshot per source, `parallel` at a time. A source
/// whose tool fails (missing, exits non-zero) saves no snapshot and the others go on.
public struct SourceBackupCommand: RepositoryCommand {
    public var sources: [any BackupSource]
    public var options: BackupOptions
    public var parallel = 1
    /// Opens one more connection to the repository per parallel worker beyond the first
    /// (each worker packs into its own repository object); nil: one worker.
    public var openAnother: (@Sendable () throws -> Repository)?

    public init(sources: [any BackupSource], options: BackupOptions = BackupOptions()) {
        self.sources = sources; self.options = options
    }

    public var operation: String { "backup" }
    public var lock: LockNeed { .shared(readOnly: false) }

    public struct Outcome: Codable, Sendable {
        public var source: String
        public var snapshot_id: String?
        public var summary: Snapshot.Summary?
        public var notices: [String]
        /// Why no snapshot was saved.
        public var error: String?
    }
    public struct Result: Codable, Sendable {
        /// In the order the sources finished.
        public var sources: [Outcome]
        /// Packs an interrupted earlier backup or prune left, now indexed and reused.
        public var packs_reused: Int
        public var interrupted: Bool
        public var failed: [String] { sources.filter { $0.error != nil }.map(\.source) }
        public var saved: [Outcome] { sources.filter { $0.error == nil } }
    }

    public func run(_ repo: Repository, _ context: CommandContext) throws -> Result {
        try repo.loadIndex()
        let reused = try context.adoptLeftoverPacks(repo)
        let workers = openAnother == nil ? 1 : max(1, min(parallel, sources.count))
        var opened = [repo]
        for _ in 1..<max(1, workers) {
            let r = try openAnother!()
            try r.loadIndex()
            opened.append(r)
        }
        let repos = opened, sources = sources, options = options
        let next = Locked(0)
        let outcomes = Locked([Outcome]())
        let interrupted = Locked(false)
        let work: @Sendable (Int) -> Void = { w in
            while !interrupted.withLock({ $0 }) {
                let i = next.withLock { n -> Int in defer { n += 1 }; return n }
                guard i < sources.count else { return }
                let source = sources[i]
                let name = source.ref.path
                do {
                    let r = try source.backup(into: repos[w], options: options) { e in
                        switch e {
                        case .warning(let s): context.warn("\(name): \(s)")
                        case .step(let s): context.step("\(name): \(s)")
                        }
                    }
                    for n in r.notices { context.warn("\(name): \(n)") }
                    outcomes.withLock { $0.append(Outcome(source: name, snapshot_id: r.snapshotID?.hex, summary: r.snapshot.summary,
                                                          notices: r.notices, error: nil)) }
                } catch RepositoryError.interrupted {
                    interrupted.withLock { $0 = true }
                } catch {
                    outcomes.withLock { $0.append(Outcome(source: name, snapshot_id: nil, summary: nil, notices: [], error: "\(error)")) }
                }
            }
        }
        if workers == 1 { work(0) } else { DispatchQueue.concurrentPerform(iterations: workers, execute: work) }
        // A cancellation for a reason (a lost lock) is an error, not an interruption.
        if let why = repo.cancellation.reason { throw RepositoryError.cancelled(why) }
        return Result(sources: outcomes.withLock { $0 }, packs_reused: reused,
                      interrupted: interrupted.withLock { $0 })
    }
}
