import CairnCore
import CairnTree
import CairnMaintenance
import CairnFormat
import CairnRepository

/// `rewrite`: snapshots saved anew without the paths the excludes match; with `forget` the
/// originals go once their replacements are saved, and `prune` then repacks with no unused
/// space tolerated, so no byte of a removed file stays in a pack.
public struct RewriteCommand: RepositoryCommand {
    public var snapshots: [String] = []
    public var filter = SnapshotFilter()
    public var options = RewriteOptions()
    public var prune = false

    public init() {}
    public var operation: String { options.dryRun ? "rewrite --dry-run" : "rewrite" }
    public var lock: LockNeed { options.dryRun ? .shared(readOnly: false) : .exclusive }

    public struct Result: Encodable, Sendable {
        public var rewrite: RewriteResult
        public var prune: PruneResult?
    }

    public func run(_ repo: Repository, _ context: CommandContext) throws -> Result {
        if options.excludes.isEmpty { throw CommandError("nothing to remove: give --exclude or --exclude-file") }
        if prune && !options.forget { throw CommandError("--prune frees nothing while the originals stay: add --forget") }
        if prune && options.dryRun { throw CommandError("--prune with --dry-run: run `cairn prune --dry-run` afterwards instead") }
        try repo.loadIndex()
        let (all, targets) = try selectSnapshots(repo, named: snapshots, filter: filter)
        let r = try repo.rewriteSnapshots(targets, options: options, existing: all)
        // 0%: every pack holding a removed blob is repacked, so the data is really gone (with
        // the usual 5% a small secret could stay in a pack prune leaves alone).
        let p = prune ? try CairnMaintenance.prune(repo, options: PruneOptions(maxUnused: .percent(0)), progress: context.progress) : nil
        return Result(rewrite: r, prune: p)
    }
}
