import CairnCore
import CairnTree
import CairnCheck
import CairnMaintenance
import CairnFormat
import CairnRepository

/// `prune`: deletes packs no snapshot needs and repacks partly used ones (new packs and
/// index files are durable before anything is deleted).
public struct PruneCommand: RepositoryCommand {
    public var options: PruneOptions
    public init(_ options: PruneOptions = PruneOptions()) { self.options = options }
    public var operation: String { "prune" }
    /// Exclusive even for a dry run: the plan it shows is the one a real run would carry out.
    public var lock: LockNeed { .exclusive }
    public func run(_ repo: Repository, _ context: CommandContext) throws -> PruneResult {
        try CairnMaintenance.prune(repo, options: options, progress: context.progress)
    }
}

/// `unlock`: removes stale locks, or every lock.
public struct UnlockCommand: RepositoryCommand {
    public var all: Bool
    public init(all: Bool = false) { self.all = all }
    public var operation: String { "unlock" }
    public var lock: LockNeed { .none }
    public struct Result: Codable, Sendable { public var removed: Int }
    public func run(_ repo: Repository, _ context: CommandContext) throws -> Result { Result(removed: try repo.removeLocks(all: all)) }
}

/// `check`: everything is read from the store, never the cache (format-spec §15.1). The
/// checker is made before `--snapshot` names are resolved, so they are resolved from the
/// store too.
public struct CheckCommand: RepositoryCommand {
    public var options: CheckOptions
    /// Snapshots to check only (IDs, prefixes, `latest`); empty: all.
    public var snapshots: [String] = []
    public init(_ options: CheckOptions = CheckOptions()) { self.options = options }
    public var operation: String { "check" }
    public var lock: LockNeed { .shared(readOnly: true) }
    public func run(_ repo: Repository, _ context: CommandContext) throws -> CheckReport {
        let checker = Checker(repository: repo, progress: context.progress)   // from here on, nothing is read from the cache
        var options = options
        if !snapshots.isEmpty { options.snapshots = try snapshots.map { try repo.resolveSnapshot($0).0 } }
        return try checker.run(options)
    }
}
