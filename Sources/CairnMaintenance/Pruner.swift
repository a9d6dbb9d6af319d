import CairnCore
import CairnFormat
import CairnRepository
import CairnStorage
import CairnTree
import Dispatch

/// What a prune did (or, with --dry-run, would do).
public struct PruneResult: Sendable, Codable {
    public var plan: PruneStats
    public var dryRun: Bool
    public var packsWritten = 0
    public var bytesWritten: UInt64 = 0
    public var packsDeleted = 0
    public var indexFilesReplaced = 0
    public var durationSeconds = 0.0
}

/// `prune`: deletes packs no snapshot needs and repacks partly used ones (format-spec §14,
/// "Prune"). The caller holds an exclusive lock. Order: plan (read only); copy the needed
/// blobs of the packs to repack into new packs and flush them with their index; write index
/// files listing every staying pack, superseding every old one; delete the old index files;
/// only then delete the packs. An interruption at any point leaves every snapshot readable,
/// at worst with packs no index lists, which the next prune deletes.
public final class Pruner {
    let repo: Repository
    public let progress: OperationProgress
    /// Tests: stop with `interrupted` at this point of `execute`, as a crash would.
    enum Stop: Sendable { case afterCopy, afterIndex, midDelete }
    var stopAt: Stop? = nil

    public init(repository: Repository, progress: OperationProgress = OperationProgress()) {
        repo = repository; self.progress = progress
    }

    public func run(_ options: PruneOptions) throws -> PruneResult {
        let start = Timestamp.now()
        let plan = try self.plan(options)
        var result = PruneResult(plan: plan.stats, dryRun: options.dryRun)
        if !options.dryRun && !plan.nothingToDo { result = try execute(plan) }
        result.durationSeconds = Double(Timestamp.now().nanoseconds - start.nanoseconds) / 1e9
        return result
    }

    /// Carries out a plan made on this repository under the same lock.
    public func execute(_ plan: PrunePlan) throws -> PruneResult {
        var result = PruneResult(plan: plan.stats, dryRun: false)
        let before = repo.writeStats
        // 1. Copy: the index in memory holds the staying packs only, so every blob copied is
        //    new to the packer. Blobs move in their stored form after being authenticated.
        repo.useIndex(plan.staying.map { IndexFile.Pack(id: $0.key, blobs: $0.value) })
        progress.update { $0.totalBytes = plan.stats.bytesToCopy; $0.bytes = 0 }
        let jobs = plan.repack.sorted()
        let failure = Locked<Error?>(nil)
        let repo = self.repo, progress = self.progress
        DispatchQueue.concurrentPerform(iterations: jobs.count) { i in
            if repo.cancellation.isCancelled || failure.withLock({ $0 != nil }) { return }
            let pack = jobs[i]
            progress.update { $0.files += 1; $0.current = pack.short }
            do {
                // Only the byte ranges holding blobs to copy are read (a repacked pack is
                // mostly unused, and on a remote store every byte counts).
                for run in Self.readRuns(plan.copy[pack] ?? []) {
                    let bytes = try repo.backend.read(.pack, pack.hex, offset: run.start, length: Int(run.end - run.start))
                    for e in run.entries {
                        do { _ = try repo.openBlob(e, in: bytes, at: run.start) }
                        catch { throw RepositoryError.damaged("\(e.type) blob \(e.id.short) in pack \(pack.short): \(error); prune deleted nothing: run `cairn repair packs`") }
                        try bytes.withUnsafeBytes { b in
                            let from = Int(e.offset - run.start)
                            _ = try repo.saveStoredBlob(e, UnsafeRawBufferPointer(rebasing: b[from..<from + Int(e.storedLength)]))
                        }
                    }
                    progress.addBytes(run.entries.reduce(0) { $0 + Int($1.storedLength) })
                }
            } catch { failure.withLock { if $0 == nil { $0 = error } } }
        }
        if let e = failure.withLock({ $0 }) { throw e }
        try repo.checkCancelled()
        try repo.flush()
        if stopAt == .afterCopy { throw RepositoryError.interrupted }
        let after = repo.writeStats
        result.packsWritten = after.packsWritten - before.packsWritten
        result.bytesWritten = after.storedBytesAdded - before.storedBytesAdded

        // 2. The index: every staying pack plus the new ones (read back from the index files
        //    the flush wrote), superseding every index file present now.
        var final = plan.staying
        for (id, entries) in try repo.indexedPacks().packs where !plan.known.contains(id) { final[id] = entries }
        let old = try repo.list(.index)
        try repo.rewriteIndex(final.sorted { $0.key < $1.key }.map { IndexFile.Pack(id: $0.key, blobs: $0.value) }, replacing: old)
        result.indexFilesReplaced = old.count
        if stopAt == .afterIndex { throw RepositoryError.interrupted }

        // 3. Only now the packs.
        let doomed = (plan.delete + plan.repack).sorted()
        for (i, id) in doomed.enumerated() {
            try repo.checkCancelled()
            if stopAt == .midDelete && i == doomed.count / 2 { throw RepositoryError.interrupted }
            do { try repo.backend.delete(.pack, id.hex) } catch StorageError.notFound {}
            result.packsDeleted += 1
        }
        return result
    }
}

extension Pruner {
    struct ReadRun { var start: UInt64; var end: UInt64; var entries: [BlobEntry] }

    /// The blobs to copy out of one pack, as reads: blobs in offset order, a run extended over
    /// gaps below `gap` bytes (one larger read beats two requests) and up to `limit` bytes.
    static func readRuns(_ entries: [BlobEntry], gap: UInt64 = 256 << 10, limit: UInt64 = 8 << 20) -> [ReadRun] {
        var runs: [ReadRun] = []
        for e in entries.sorted(by: { $0.offset < $1.offset }) {
            let end = e.offset + UInt64(e.storedLength)
            if var last = runs.last, e.offset >= last.end, e.offset - last.end < gap, end - last.start <= limit {
                last.end = end; last.entries.append(e)
                runs[runs.count - 1] = last
            } else {
                runs.append(ReadRun(start: e.offset, end: end, entries: [e]))
            }
        }
        return runs
    }
}

/// Prunes a repository whose exclusive lock the caller holds (`prune`, `forget --prune`).
public func prune(_ repo: Repository, options: PruneOptions = PruneOptions(),
                  progress: OperationProgress = OperationProgress()) throws -> PruneResult {
    try Pruner(repository: repo, progress: progress).run(options)
}
