import CairnCore
import CairnFormat
import CairnStorage

/// Replacing the whole index (repair and, later, prune): new index files are written first,
/// the last of them names every old file in `supersedes`, and only then are the old files
/// deleted. A crash before the last new file leaves old and new files side by side (their
/// union is the same index, or a superset); a crash after it leaves superseded files that
/// readers ignore and the next rewrite deletes (format-spec §9).
extension Repository {
    /// Packs per index file written by a rewrite (about 13 KB of entries per full pack).
    static let packsPerIndexFile = 256

    /// Writes index files listing exactly `packs`, superseding `old`, then deletes `old`.
    /// Returns the names of the new files. The in-memory index is replaced by `packs`.
    @discardableResult
    public func rewriteIndex(_ packs: [IndexFile.Pack], replacing old: [ID]) throws -> [ID] {
        var groups: [[IndexFile.Pack]] = stride(from: 0, to: packs.count, by: Self.packsPerIndexFile).map {
            Array(packs[$0..<min($0 + Self.packsPerIndexFile, packs.count)])
        }
        if groups.isEmpty { groups = [[]] }   // an empty index still supersedes the old files
        var written: [ID] = []
        for (i, g) in groups.enumerated() {
            let last = i == groups.count - 1
            let file = IndexFile(supersedes: last ? old.sorted() : [], packs: g)
            written.append(try saveFile(.index, file.encode()))
        }
        let keep = Set(written)
        for name in old where !keep.contains(name) {
            do { try backend.delete(.index, name.hex) } catch StorageError.notFound {}
            cache?.dropFile(.index, name)
        }
        useIndex(packs)
        return written
    }

    /// Replaces the in-memory index by exactly these packs (nothing is written).
    public func useIndex(_ packs: [IndexFile.Pack]) {
        var idx = BlobIndex()
        idx.addBulk(IndexFile(packs: packs))
        idx.finishBulkLoad()
        indexState.withLock { $0 = idx }
    }

    /// The index as read from its files, with full blob entries (the in-memory table keeps
    /// ID prefixes only).
    public struct IndexListing: Sendable {
        /// Pack → its entries (deduplicated, by offset), from the live files only.
        public var packs: [ID: [BlobEntry]] = [:]
        /// Every index file present, including undecodable and superseded ones (what a
        /// rewrite replaces).
        public var files: [ID] = []
        public var bad: [(ID, Error)] = []
        public var superseded: Set<ID> = []
        /// Packs only superseded files list, kept visible (§9).
        public var fromSuperseded: Set<ID> = []
    }

    /// Loads the index and lists every pack it names; superseded files are skipped.
    public func indexedPacks() throws -> IndexListing {
        var byFile: [ID: [IndexFile.Pack]] = [:]
        let load = try loadIndex { name, file in byFile[name] = file.packs }
        var listing = IndexListing(files: Array(byFile.keys) + load.bad.map(\.0), bad: load.bad, superseded: load.superseded)
        var byPack: [ID: [BlobEntry]] = [:]
        for (name, packs) in byFile where !load.superseded.contains(name) {
            for p in packs { byPack[p.id, default: []].append(contentsOf: p.blobs) }
        }
        for (id, entries) in load.keptFromSuperseded { byPack[id, default: []].append(contentsOf: entries) }
        listing.fromSuperseded = Set(load.keptFromSuperseded.keys)
        listing.packs = byPack.mapValues { entries in
            var seen = Set<BlobEntry>()
            return entries.filter { seen.insert($0).inserted }.sorted { $0.offset < $1.offset }
        }
        return listing
    }
}
