import CairnCore
import CairnFormat
import CairnMaintenance
import CairnRepository
import CairnTree

/// `copy`: snapshots of another repository into this one, sending only blobs this one lacks.
/// Snapshots already copied (each copy's `original` names its source) are skipped, so a copy
/// cut short continues where it stopped.
public struct CopyCommand: RepositoryCommand {
    public var source: Repository
    /// Snapshots to copy (IDs, prefixes, `latest`); empty: all.
    public var snapshots: [String] = []
    public var host: String?
    public var tag: String?

    public init(from source: Repository) { self.source = source }

    public var operation: String { "copy" }
    public var lock: LockNeed { .shared(readOnly: false) }

    public struct Copied: Codable, Sendable { public var snapshot: String, time: String, copy: String }
    public struct Result: Encodable, Sendable {
        public var copied: [Copied]
        public var skipped: Int
        /// Snapshots of the source that cannot be read (not copied: exit 3).
        public var unreadable: Int
        public var blobs_added: Int
        public var bytes_stored: UInt64
        public var blobs_read: Int
    }

    public func run(_ destination: Repository, _ context: CommandContext) throws -> Result {
        guard source.id != destination.id else { throw CommandError("source and destination are the same repository") }
        let sourceLock = try Self.takeLock(.shared(readOnly: false), source, operation: "copy (source)", noLock: context.noLock)
        defer { sourceLock?.release() }
        try source.loadIndex()
        try destination.loadIndex()
        _ = try context.adoptLeftoverPacks(destination, left: "an interrupted run")
        var chosen: [(ID, Snapshot)]
        var unreadable = 0
        if snapshots.isEmpty {
            let (all, bad) = try source.snapshots()
            for (id, e) in bad { context.warn("snapshot \(id.short) of the source cannot be read (not copied): \(e)") }
            unreadable = bad.count
            chosen = all
        } else {
            chosen = try snapshots.map { try source.resolveSnapshot($0) }
        }
        chosen = chosen.filter { s in (host == nil || s.1.hostname == host) && (tag == nil || s.1.tags.contains(tag!)) }
        let copier = Copier(from: source, to: destination, progress: context.progress)
        let done = try copier.alreadyCopied()
        var copied: [Copied] = [], skipped = 0
        do {
            for (id, snap) in chosen {
                let original = snap.original.flatMap { ID(hex: $0) } ?? id
                if done.contains(original) || done.contains(id) { skipped += 1; continue }
                let new = try copier.copy(id, snap)
                copied.append(Copied(snapshot: id.hex, time: snap.time, copy: new.hex))
                context.step("snapshot \(id.short) of \(snap.time) copied as \(new.short)")
            }
        } catch RepositoryError.interrupted {
            // What was sent is indexed, so the next copy reuses it.
            try? destination.flush()
            context.warn("interrupted: \(copied.count) snapshot(s) copied; the next copy continues with the rest and reuses what was sent")
            throw RepositoryError.interrupted
        }
        let s = destination.writeStats
        return Result(copied: copied, skipped: skipped, unreadable: unreadable, blobs_added: s.blobsAdded[0] + s.blobsAdded[1],
                      bytes_stored: s.storedBytesAdded, blobs_read: copier.blobsRead)
    }
}
