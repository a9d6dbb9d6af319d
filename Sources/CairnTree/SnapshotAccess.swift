import CairnCore
import CairnFormat
import CairnRepository

/// Which snapshots a command means: an ID or unique prefix, `latest`, and filters.
public struct SnapshotFilter: Sendable {
    public var hosts: [String] = []
    public var tags: [String] = []
    public var paths: [String] = []
    public var before: Timestamp? = nil
    /// What to do with a snapshot file that cannot be read while choosing (`latest`, filters).
    /// nil (the default): refuse, because it might be the snapshot the user meant (§11.3).
    /// Otherwise it is called for each one, which is then left out.
    public var skipUnreadable: (@Sendable (ID, Error) -> Void)? = nil
    public init() {}

    public func matches(_ s: Snapshot) -> Bool {
        (hosts.isEmpty || hosts.contains(s.hostname))
            && tags.allSatisfy { t in t.split(separator: ",").allSatisfy { s.tags.contains(String($0)) } }
            && (paths.isEmpty || paths.allSatisfy { s.paths.contains($0) })
            && (before.map { s.timestamp <= $0 } ?? true)
    }
}

extension Repository {
    /// Resolves `latest`, an ID or a unique ID prefix, under a filter. With `before`, `latest`
    /// means the newest snapshot at or before that time.
    public func resolveSnapshot(_ spec: String, filter: SnapshotFilter = .init()) throws -> (ID, Snapshot) {
        if spec == "latest" {
            let all = try matchingSnapshots(filter)
            guard let last = all.last else { throw RepositoryError.fileNotFound("no snapshot matches (host/tag/path/before filters)") }
            return last
        }
        let id = try find(.snapshot, prefix: spec)
        return (id, try loadSnapshot(id))
    }

    /// Every snapshot the filter matches, oldest first. A snapshot file that cannot be read
    /// could be one of them, so it is an error naming it, unless `filter.skipUnreadable`
    /// says to leave such files out: nothing is chosen from a list that may be missing its
    /// newest member.
    public func matchingSnapshots(_ filter: SnapshotFilter) throws -> [(ID, Snapshot)] {
        let (all, bad) = try snapshots()
        if let (id, e) = bad.first {
            guard let skip = filter.skipUnreadable else { throw RepositoryError.unreadableSnapshot(id, "\(e)") }
            for (id, e) in bad { skip(id, e) }
        }
        return all.filter { filter.matches($0.1) }
    }

    /// The node at `path` inside a tree ("/" or "" is the root folder itself).
    public func node(at path: String, root: ID) throws -> Node {
        var node = Node(name: [], type: .directory, mode: 0o755, content: .subtree(root))
        for comp in path.split(separator: "/") where comp != "." {
            guard let sub = node.subtree else { throw RepositoryError.fileNotFound("\(path): \(node.nameString) is not a folder") }
            guard let next = try loadTree(sub).node(named: Array(comp.utf8)) else {
                throw RepositoryError.fileNotFound("\(path) is not in the snapshot")
            }
            node = next
        }
        return node
    }

    /// Visits every node below a tree, depth first, with its path.
    public func walk(_ root: ID, prefix: String = "", _ visit: (String, Node) throws -> Bool) throws {
        for n in try loadTree(root).nodes {
            let p = prefix + "/" + n.nameString
            if try visit(p, n), let sub = n.subtree { try walk(sub, prefix: p, visit) }
        }
    }

    /// Writes a file node's content to `out`, chunk by chunk.
    public func dump(_ node: Node, to out: ([UInt8]) throws -> Void) throws {
        guard node.type == .file else { throw RepositoryError.invalidArgument("\(node.nameString) is a \(node.type), not a file: dump writes one file or stream") }
        for id in node.chunks { try out(try loadBlob(.data, id)) }
    }
}
