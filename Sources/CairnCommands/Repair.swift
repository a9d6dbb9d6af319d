import CairnCheck
import CairnCore
import CairnFormat
import CairnRepository
import CairnTree

// The repairs read only the store, never the cache (format-spec §15.1): each makes its
// `Repairer` (which switches the repository to refresh-only) before it reads anything.

/// `repair index`: the index rebuilt from the pack headers.
public struct RepairIndexCommand: RepositoryCommand {
    public var readAllPacks = false
    public var dryRun = false
    public init() {}
    public var operation: String { "repair index" }
    public var lock: LockNeed { .exclusive }
    public func run(_ repo: Repository, _ context: CommandContext) throws -> Repairer.IndexResult {
        try Repairer(repository: repo, progress: context.progress).repairIndex(readAllPacks: readAllPacks, dryRun: dryRun)
    }
}

/// `repair packs`: damaged packs rewritten with every blob that still authenticates, then deleted.
public struct RepairPacksCommand: RepositoryCommand {
    /// Packs to repair; nil: every pack is read to find the damaged ones.
    public var packs: [ID]?
    public var dryRun = false
    public init(packs: [ID]? = nil) { self.packs = packs }
    public var operation: String { "repair packs" }
    public var lock: LockNeed { .exclusive }
    public func run(_ repo: Repository, _ context: CommandContext) throws -> Repairer.PackResult {
        try Repairer(repository: repo, progress: context.progress).repairPacks(packs, dryRun: dryRun)
    }
}

/// `repair snapshots`: snapshots that reference missing blobs rewritten with what was lost
/// marked (tag `repaired`, `original` the old ID), saved before the old file is deleted.
public struct RepairSnapshotsCommand: RepositoryCommand {
    public var snapshots: [String] = []
    /// A copy of this repository to take missing blobs from.
    public var source: Repository?
    public var removeUnreadable = false
    public var dryRun = false
    public init() {}
    public var operation: String { "repair snapshots" }
    public var lock: LockNeed { .exclusive }
    public func run(_ repo: Repository, _ context: CommandContext) throws -> Repairer.SnapshotResult {
        let repairer = Repairer(repository: repo, progress: context.progress)
        try repo.loadIndex()
        try source?.loadIndex()
        let ids = snapshots.isEmpty ? nil : try snapshots.map { try repo.resolveSnapshot($0).0 }
        return try repairer.repairSnapshots(ids, from: source, dryRun: dryRun, removeUnreadable: removeUnreadable)
    }
}
