import CairnCore
import CairnFormat
import CairnRepository
import CairnStorage

extension Repository {
    /// Deletes snapshot files (`forget`). The caller holds an exclusive lock. Only the
    /// snapshot files go: the data they referenced stays until prune. A file already gone
    /// (an interrupted earlier run) is fine.
    public func removeSnapshots(_ ids: [ID]) throws {
        for id in ids {
            try checkCancelled()
            do { try backend.delete(.snapshot, id.hex) } catch StorageError.notFound {}
            cache?.dropFile(.snapshot, id)
        }
    }

    /// The tags a snapshot gets from `tag`, restic's way: `set` (when given) replaces them
    /// all (`[""]` means none); otherwise `add` appends the tags not yet there and `remove`
    /// drops every occurrence. Nil when nothing changes.
    public static func retagged(_ tags: [String], add: [String], remove: [String], set: [String]?) -> [String]? {
        var out: [String]
        if let set {
            out = []
            for t in set where !t.isEmpty && !out.contains(t) { out.append(t) }
        } else {
            out = tags
            for t in add where !t.isEmpty && !out.contains(t) { out.append(t) }
            out.removeAll { remove.contains($0) }
        }
        return out == tags ? nil : out
    }

    /// Rewrites a snapshot with new tags (`tag`): the new snapshot, whose `original` names
    /// the snapshot first tagged (the old one's own `original`, else its ID), is saved
    /// before the old file is deleted, so an interruption leaves both, never neither. The
    /// caller holds an exclusive lock. Returns the new ID.
    ///
    /// A snapshot among `existing` equal to the new one (saved by a run interrupted before
    /// its delete) is taken as the new one, so running tag again does not leave a duplicate
    /// (file names differ even for equal content: each seal has a fresh nonce).
    public func saveRetagged(_ id: ID, _ snap: Snapshot, tags: [String], existing: [(ID, Snapshot)] = []) throws -> ID {
        var s = snap
        s.tags = tags
        s.original = snap.original ?? id.hex
        return try replaceSnapshot(id, with: s, existing: existing)
    }
}
