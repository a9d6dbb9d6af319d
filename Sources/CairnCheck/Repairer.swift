import CairnCore
import CairnCrypto
import CairnFormat
import CairnRepository
import CairnStorage
import CairnTree
import Dispatch

/// `repair index`, `repair packs` and `repair snapshots`. Each writes what replaces damaged
/// files before it deletes anything, so an interruption at any point leaves a repository that
/// reads at least as well as before, and running the repair again finishes the job.
public final class Repairer {
    let repo: Repository
    public let progress: OperationProgress

    public init(repository: Repository, progress: OperationProgress = OperationProgress()) {
        repo = repository; self.progress = progress
        repository.cacheUse = .refreshOnly   // repairs what the store holds, not what the cache remembers (§15.1)
    }

    // MARK: index

    public struct IndexResult: Sendable, Codable {
        /// Packs the new index lists.
        public var packs = 0
        public var blobs = 0
        /// Packs in the store that no old index file listed (now listed).
        public var added: [String] = []
        /// Packs the old index listed that are not in the store (no longer listed).
        public var missing: [String] = []
        /// Packs whose header could not be read: kept with their old index entries when there
        /// were any, otherwise left out. `repair packs` salvages them.
        public var unreadable: [String] = []
        /// With --read-all-packs: packs whose bytes do not match their name.
        public var damaged: [String] = []
        /// Old index files replaced (including undecodable and superseded ones).
        public var filesReplaced = 0
        public var dryRun = false
    }

    /// Rebuilds the index from the pack headers in the store (every index file may be gone).
    /// With `readAllPacks`, reads each pack whole and checks its SHA-256 name.
    public func repairIndex(readAllPacks: Bool = false, dryRun: Bool = false) throws -> IndexResult {
        let old = try repo.indexedPacks()
        let stored = try repo.backend.list(.pack).compactMap { f in ID(hex: f.name).map { ($0, f.size) } }.sorted { $0.0 < $1.0 }
        let storedSet = Set(stored.map(\.0))
        progress.update { $0.totalBytes = readAllPacks ? stored.reduce(0) { $0 + $1.1 } : nil }
        enum Outcome: Sendable { case ok([BlobEntry], nameMatches: Bool), failed }
        let outcomes = Locked([ID: Outcome]())
        let repo = self.repo, progress = self.progress
        DispatchQueue.concurrentPerform(iterations: stored.count) { i in
            if repo.cancellation.isCancelled { return }
            let (id, size) = stored[i]
            progress.update { $0.files += 1; $0.current = id.short }
            let outcome: Outcome
            do {
                if readAllPacks {
                    let bytes = try repo.backend.read(.pack, id.hex)
                    progress.addBytes(bytes.count)
                    outcome = .ok(try PackHeader.parse(pack: bytes, key: repo.key).entries, nameMatches: SHA256.hash(bytes) == id)
                } else {
                    outcome = .ok(try repo.readPackHeader(id, size: size).entries, nameMatches: true)
                }
            } catch { outcome = .failed }
            outcomes.withLock { $0[id] = outcome }
        }
        try repo.checkCancelled()
        var result = IndexResult(dryRun: dryRun)
        var packs: [IndexFile.Pack] = []
        for (id, outcome) in outcomes.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
            switch outcome {
            case .ok(let entries, let nameMatches):
                packs.append(IndexFile.Pack(id: id, blobs: entries))
                if old.packs[id] == nil { result.added.append(id.hex) }
                if !nameMatches { result.damaged.append(id.hex) }
            case .failed:
                result.unreadable.append(id.hex)
                if let entries = old.packs[id] { packs.append(IndexFile.Pack(id: id, blobs: entries)) }
            }
        }
        result.missing = old.packs.keys.filter { !storedSet.contains($0) }.map(\.hex).sorted()
        result.packs = packs.count
        result.blobs = packs.reduce(0) { $0 + $1.blobs.count }
        result.filesReplaced = old.files.count
        if !dryRun { try repo.rewriteIndex(packs, replacing: old.files) }
        return result
    }

    // MARK: packs

    public struct PackResult: Sendable, Codable {
        /// Damaged packs found (or given) and, unless dry run, deleted after salvage.
        public var damaged: [String] = []
        /// Blobs of damaged packs that authenticated and were written into new packs.
        public var salvaged = 0
        /// Blobs of damaged packs that another intact pack already holds.
        public var elsewhere = 0
        /// Blobs lost: damaged and held nowhere else (`repair snapshots` marks the files).
        public var lost: [String] = []
        public var packsWritten = 0
        public var dryRun = false
    }

    /// Reads `packs` (default: every pack in the store, each whole) and, for every one that
    /// is damaged — wrong SHA-256, unreadable header, a blob that does not authenticate —
    /// writes its good blobs into new packs, replaces the index without it, and only then
    /// deletes it.
    public func repairPacks(_ only: [ID]? = nil, dryRun: Bool = false) throws -> PackResult {
        let old = try repo.indexedPacks()
        let stored = Dictionary(try repo.backend.list(.pack).compactMap { f in ID(hex: f.name).map { ($0, f.size) } },
                                uniquingKeysWith: { a, _ in a })
        let candidates = (only ?? Array(stored.keys)).filter { stored[$0] != nil }.sorted()
        if let only {
            for id in only where stored[id] == nil {
                throw RepositoryError.fileNotFound("pack \(id.hex) is not in the store")
            }
        }
        progress.update { $0.totalBytes = candidates.reduce(0) { $0 + (stored[$1] ?? 0) } }
        let verdicts = Locked([PackVerdict]())
        let repo = self.repo, progress = self.progress
        DispatchQueue.concurrentPerform(iterations: candidates.count) { i in
            if repo.cancellation.isCancelled { return }
            let id = candidates[i]
            progress.update { $0.files += 1; $0.current = id.short }
            let v = PackVerdict.readData(repo, id, size: stored[id]!, indexed: old.packs[id] ?? [])
            progress.addBytes(Int(v.bytes))
            if !v.damage.isEmpty { verdicts.withLock { $0.append(v) } }
        }
        try repo.checkCancelled()
        let damaged = verdicts.withLock { $0 }.sorted { $0.pack < $1.pack }
        var result = PackResult(damaged: damaged.map(\.pack.hex), dryRun: dryRun)
        guard !damaged.isEmpty else { return result }
        let damagedSet = Set(damaged.map(\.pack))

        // The in-memory index without the damaged packs, so a blob counts as stored only if
        // an intact pack holds it.
        let keep = old.packs.filter { !damagedSet.contains($0.key) }.map { IndexFile.Pack(id: $0.key, blobs: $0.value) }
        repo.useIndex(keep)
        for v in damaged {
            // Read once; try the header's entries when it still opens, and the index's.
            let bytes = try? repo.backend.read(.pack, v.pack.hex)
            var entries = Set(old.packs[v.pack] ?? [])
            if let bytes, let h = try? PackHeader.parse(pack: bytes, key: repo.key) { entries.formUnion(h.entries) }
            for e in entries.sorted(by: { $0.offset < $1.offset }) {
                if repo.hasBlob(e.type, e.id) { result.elsewhere += 1; continue }
                guard let bytes, let plain = try? repo.openBlob(e, inPack: bytes) else { result.lost.append(e.id.hex); continue }
                result.salvaged += 1
                if !dryRun { try repo.saveBlob(e.type, plain) }
            }
        }
        result.lost = Array(Set(result.lost)).sorted()
        guard !dryRun else { return result }
        try repo.flush()
        result.packsWritten = repo.writeStats.packsWritten
        // New packs are durable and indexed: replace the index without the damaged packs,
        // then delete them.
        let now = try repo.indexedPacks()
        let packs = now.packs.filter { !damagedSet.contains($0.key) }.sorted { $0.key < $1.key }.map { IndexFile.Pack(id: $0.key, blobs: $0.value) }
        try repo.rewriteIndex(packs, replacing: now.files)
        for id in damagedSet.sorted() {
            do { try repo.backend.delete(.pack, id.hex) } catch StorageError.notFound {}
        }
        return result
    }
}
