import CairnCore
import CairnFormat
import CairnRepository
import CairnTree

/// Sizes for `stats` without a mode: restore size, unique data, stored size, ratios.
public struct RepositoryStats: Sendable, Codable {
    public var snapshots = 0
    public var files = 0
    public var restoreSize: UInt64 = 0
    public var uniqueBlobs = 0
    public var uniquePlainSize: UInt64 = 0
    public var uniqueStoredSize: UInt64 = 0
    public var packBytes: UInt64 = 0
    public var dedupRatio: Double = 0
    public var compressionRatio: Double = 0
}

/// restic's four ways of counting (`stats --mode`).
public enum StatsMode: String, CaseIterable, Sendable {
    case restoreSize = "restore-size", rawData = "raw-data", blobsPerFile = "blobs-per-file", filesByContents = "files-by-contents"
}

/// The numbers of one mode, named as restic's `stats --json` names them (fields a mode does not
/// fill are left out). `data_blob_count` and `tree_blob_count` are cairn's own (raw-data).
public struct ModeStats: Sendable, Codable, Equatable {
    public var totalSize: UInt64 = 0
    public var totalFileCount = 0
    public var totalBlobCount: Int? = nil
    public var totalUncompressedSize: UInt64? = nil
    public var compressionRatio: Double? = nil
    public var compressionProgress: Double? = nil
    public var compressionSpaceSaving: Double? = nil
    public var dataBlobCount: Int? = nil
    public var treeBlobCount: Int? = nil
    public var snapshotsCount = 0

    enum CodingKeys: String, CodingKey {
        case totalSize = "total_size", totalFileCount = "total_file_count", totalBlobCount = "total_blob_count"
        case totalUncompressedSize = "total_uncompressed_size", compressionRatio = "compression_ratio"
        case compressionProgress = "compression_progress", compressionSpaceSaving = "compression_space_saving"
        case dataBlobCount = "data_blob_count", treeBlobCount = "tree_blob_count", snapshotsCount = "snapshots_count"
    }
}

extension Repository {
    /// Counts the snapshots the way restic's `stats --mode` does:
    /// - restore-size: every file, folder, symlink... of every snapshot, and the size of the
    ///   files as restored; hard links (same device and inode) count their size once per snapshot.
    /// - raw-data: the unique blobs (data and tree) the snapshots reference, with their stored bytes.
    /// - blobs-per-file: for each file content not seen before, the blobs of that path not yet
    ///   counted (restic's rule), with their plain bytes.
    /// - files-by-contents: files counted once per distinct content (all empty files are one);
    ///   unlike restic, folders and symlinks are not counted as one more empty file.
    public func stats(_ mode: StatsMode, snapshots snaps: [Snapshot]) throws -> ModeStats {
        var s = ModeStats()
        s.snapshotsCount = snaps.count
        let roots = snaps.compactMap(\.treeID)
        switch mode {
        case .restoreSize:
            let r = try restoreTotals(roots)
            s.totalFileCount = r.nodes; s.totalSize = r.size
        case .rawData:
            let used = try usedBlobs(roots)
            let data = blobTotals(used.data, .data), trees = blobTotals(used.trees, .tree)
            s.dataBlobCount = data.count; s.treeBlobCount = trees.count
            s.totalBlobCount = data.count + trees.count
            s.totalSize = data.stored + trees.stored
            let plain = data.plain + trees.plain, compressedPlain = data.compressedPlain + trees.compressedPlain
            let compressedStored = data.compressedStored + trees.compressedStored
            s.totalUncompressedSize = plain
            s.compressionRatio = compressedStored > 0 ? Double(compressedPlain) / Double(compressedStored) : 1
            s.compressionProgress = plain > 0 ? Double(compressedPlain) / Double(plain) * 100 : 0
            s.compressionSpaceSaving = plain > 0 ? (1 - Double(s.totalSize) / Double(plain)) * 100 : 0
        case .blobsPerFile, .filesByContents:
            var contents = Set<[ID]>()
            var pathBlobs: [String: Set<ID>] = [:]
            var blobs = 0
            for root in roots {
                try walk(root) { path, n in
                    guard n.type == .file, contents.insert(n.chunks).inserted else { return true }
                    if mode == .filesByContents { s.totalFileCount += 1; s.totalSize += n.size; return true }
                    for c in n.chunks {
                        if pathBlobs[path] == nil { pathBlobs[path] = []; s.totalFileCount += 1 }
                        guard pathBlobs[path]!.insert(c).inserted else { continue }
                        guard let loc = lookup(.data, c) else { throw RepositoryError.fileNotFound("data blob \(c.short) of \(path) is not in the index") }
                        s.totalSize += UInt64(loc.entry.plainLength); blobs += 1
                    }
                    return true
                }
            }
            if mode == .blobsPerFile { s.totalBlobCount = blobs }
        }
        return s
    }

    /// The summary `stats` prints without a mode.
    public func stats(snapshots snaps: [Snapshot]) throws -> RepositoryStats {
        var s = RepositoryStats()
        s.snapshots = snaps.count
        let roots = snaps.compactMap(\.treeID)
        let r = try restoreTotals(roots)
        s.files = r.files; s.restoreSize = r.size
        let data = blobTotals(try usedBlobs(roots).data, .data)
        s.uniqueBlobs = data.count; s.uniquePlainSize = data.plain; s.uniqueStoredSize = data.stored
        s.packBytes = try backend.list(.pack).reduce(0) { $0 + $1.size }
        s.dedupRatio = s.uniquePlainSize > 0 ? Double(s.restoreSize) / Double(s.uniquePlainSize) : 0
        s.compressionRatio = s.uniqueStoredSize > 0 ? Double(s.uniquePlainSize) / Double(s.uniqueStoredSize) : 0
        return s
    }

    /// Nodes, files and restored bytes of every snapshot in full (a subtree met twice counts twice).
    func restoreTotals(_ roots: [ID]) throws -> (nodes: Int, files: Int, size: UInt64) {
        var nodes = 0, files = 0, size: UInt64 = 0
        for root in roots {
            var linked = Set<[UInt64]>()   // device, inode of hard-linked files seen in this snapshot
            try walk(root) { _, n in
                nodes += 1
                guard n.type == .file else { return true }
                files += 1
                if n.links <= 1 || n.inode == 0 || linked.insert([n.device, n.inode]).inserted { size += n.size }
                return true
            }
        }
        return (nodes, files, size)
    }

    /// Count and bytes of blobs found in the index (plain and stored; and of the compressed ones).
    func blobTotals(_ ids: Set<ID>, _ type: BlobType) -> (count: Int, plain: UInt64, stored: UInt64, compressedPlain: UInt64, compressedStored: UInt64) {
        var t: (count: Int, plain: UInt64, stored: UInt64, compressedPlain: UInt64, compressedStored: UInt64) = (0, 0, 0, 0, 0)
        for id in ids {
            guard let e = lookup(type, id)?.entry else { continue }
            t.count += 1; t.plain += UInt64(e.plainLength); t.stored += UInt64(e.storedLength)
            if e.compression != .none { t.compressedPlain += UInt64(e.plainLength); t.compressedStored += UInt64(e.storedLength) }
        }
        return t
    }
}
