import CairnCore
import CairnTree
import CairnFormat
import CairnRepository

/// The kinds of source Cairn backs up through another program's export tool.
public enum SourceKind: String, CaseIterable, Sendable {
    case podmanVolume = "podman-volume"
    case dockerVolume = "docker-volume"
    case incus = "incus"
    case incusVolume = "incus-volume"
    case incusConfig = "incus-config"
}

/// One source: its kind and name. Its snapshots are stream snapshots tagged `KIND` and
/// `KIND:NAME`, recording the path `KIND:NAME` and holding one file, `NAME.tar` (format-spec §11).
public struct SourceRef: Sendable, Equatable, CustomStringConvertible {
    public var kind: SourceKind
    public var name: String

    public init(_ kind: SourceKind, _ name: String) { self.kind = kind; self.name = name }

    /// `KIND:NAME`: the snapshot's path, its second tag, and how messages name the source.
    public var path: String { kind.rawValue + ":" + name }
    public var tags: [String] { [kind.rawValue, path] }
    public var description: String { path }

    /// The stream's file name in the snapshot: the name (a `/` becomes `_`) and `.tar`;
    /// `incus-config.tar` for incus-config.
    public var fileName: String {
        kind == .incusConfig ? "incus-config.tar" : String(name.map { $0 == "/" ? "_" : $0 }) + ".tar"
    }

    /// The source a snapshot of `kind` was made from, read from its `KIND:NAME` tag.
    public init?(snapshot: Snapshot, kind: SourceKind) {
        let prefix = kind.rawValue + ":"
        guard snapshot.tags.contains(kind.rawValue),
              let t = snapshot.tags.first(where: { $0.hasPrefix(prefix) && $0.count > prefix.count }) else { return nil }
        self.init(kind, String(t.dropFirst(prefix.count)))
    }
}

/// The tag of a snapshot taken of a source's current state before a restore replaced it.
public let safetyTag = "safety"

public enum SourceError: Error, CustomStringConvertible, Sendable {
    /// A tool exited non-zero (its own message went to standard error).
    case commandFailed([String], Int32)
    case invalid(String)

    public var description: String {
        switch self {
        case .commandFailed(let argv, let status): return "`\(argv.joined(separator: " "))` exited with status \(status)"
        case .invalid(let s): return s
        }
    }
}

extension Repository {
    /// A source snapshot: `spec` is an ID, a unique prefix, or `latest` — the newest snapshot
    /// tagged `kind` that `filter` matches and that is not a safety snapshot. A snapshot given
    /// by ID must be tagged `kind` (a safety snapshot may be given that way).
    public func resolveSource(_ spec: String, kind: SourceKind, filter: SnapshotFilter) throws -> (ID, Snapshot, SourceRef) {
        let (id, snap): (ID, Snapshot)
        if spec == "latest" {
            let all = try matchingSnapshots(filter).filter {
                $0.1.tags.contains(kind.rawValue) && !$0.1.tags.contains(safetyTag)
            }
            guard let last = all.last else { throw RepositoryError.fileNotFound("no \(kind.rawValue) snapshot matches") }
            (id, snap) = last
        } else {
            (id, snap) = try resolveSnapshot(spec, filter: filter)
        }
        guard let source = SourceRef(snapshot: snap, kind: kind) else {
            throw SourceError.invalid("snapshot \(id.short) is not a \(kind.rawValue) snapshot (tags: \(snap.tags.joined(separator: ",")))")
        }
        return (id, snap, source)
    }

    /// The one file of a stream snapshot.
    public func streamNode(_ snap: Snapshot) throws -> Node {
        let root = try loadTree(snap.treeID!)
        guard root.nodes.count == 1, root.nodes[0].type == .file else {
            throw SourceError.invalid("the snapshot is not a stream snapshot (one file)")
        }
        return root.nodes[0]
    }
}
