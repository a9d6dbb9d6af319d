import CairnCore
import CairnFormat
import CairnRepository
import CairnTree

/// Copies snapshots from one repository to another, sending only blobs the destination lacks.
///
/// When both repositories share their ID key (the destination was made with `init
/// --copy-chunker-params --from-repo`), a blob has the same ID in both, so a blob the
/// destination holds is neither read nor sent. Otherwise each data blob is read from the
/// source once and stored under its destination ID; the upload journal remembers the pair,
/// so a repeated or resumed copy reads only blobs it has not copied before. Trees are
/// re-encoded with the destination's IDs. Each copied snapshot records the source snapshot
/// in `original`, and a snapshot whose original is already in the destination is skipped.
/// A copy cut short resumes like a backup: the packs it stored are adopted by the next run.
public final class Copier: @unchecked Sendable {   // one thread
    let source: Repository
    let destination: Repository
    public let progress: OperationProgress
    let sameIDs: Bool
    var treeMemo: [ID: ID] = [:]
    public private(set) var blobsRead = 0

    public init(from source: Repository, to destination: Repository, progress: OperationProgress = OperationProgress()) {
        self.source = source; self.destination = destination; self.progress = progress
        sameIDs = source.key.idKey == destination.key.idKey
    }

    /// The source snapshots the destination already has a copy of.
    public func alreadyCopied() throws -> Set<ID> {
        Set(try destination.snapshots().snapshots.compactMap { $0.1.original.flatMap { ID(hex: $0) } })
    }

    /// Copies one snapshot; returns the new snapshot's ID.
    public func copy(_ id: ID, _ snap: Snapshot) throws -> ID {
        guard let root = snap.treeID else { throw RepositoryError.damaged("snapshot \(id.short) has no tree") }
        let newRoot = try copyTree(root)
        try destination.flush()
        var copy = snap
        copy.tree = newRoot.hex
        copy.parent = nil   // parents name snapshots of the source
        copy.original = (snap.original.flatMap { ID(hex: $0) } ?? id).hex
        return try destination.saveSnapshot(copy)
    }

    func copyTree(_ id: ID) throws -> ID {
        if let done = treeMemo[id] { return done }
        try destination.checkCancelled()
        var tree = try source.loadTree(id)
        for i in tree.nodes.indices {
            switch tree.nodes[i].content {
            case .chunks(let ids):
                tree.nodes[i].content = .chunks(try ids.map { try copyData($0) })
                progress.update { $0.files += 1 }
                progress.addBytes(Int(tree.nodes[i].size))
            case .subtree(let sub):
                tree.nodes[i].content = .subtree(try copyTree(sub))
                progress.update { $0.dirs += 1 }
            default:
                break
            }
        }
        let newID: ID
        if sameIDs {
            // Same bytes, same ID: store the source's encoding unless already there.
            if !destination.hasBlob(.tree, id) { try destination.saveBlob(.tree, try source.loadBlob(.tree, id)) }
            newID = id
        } else {
            newID = try destination.saveTree(tree)
        }
        treeMemo[id] = newID
        return newID
    }

    func copyData(_ id: ID) throws -> ID {
        if sameIDs {
            if !destination.hasBlob(.data, id) {
                let bytes = try source.loadBlob(.data, id)
                blobsRead += 1
                try bytes.withUnsafeBytes { _ = try destination.saveBlob(.data, $0, id: id) }
            }
            return id
        }
        let journal = destination.journal
        if let known = journal?.copiedBlob(from: source.id, id), destination.hasBlob(.data, known) { return known }
        let bytes = try source.loadBlob(.data, id)
        blobsRead += 1
        let newID = try destination.saveBlob(.data, bytes).id
        journal?.blobCopied(from: source.id, id, to: newID)
        return newID
    }
}
