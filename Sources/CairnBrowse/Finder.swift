import CairnCore
import CairnFormat
import CairnRepository
import CairnTree

/// What `find` looks for: any of the patterns (restic's rule, see `PathPattern`), and a
/// modification time within [oldest, newest] when given.
public struct FindQuery: Sendable {
    public var patterns: [PathPattern]
    public var oldest: Timestamp? = nil
    public var newest: Timestamp? = nil

    public init(patterns: [String], ignoreCase: Bool = false) {
        self.patterns = patterns.map { PathPattern($0, ignoreCase: ignoreCase) }
    }

    public func matches(_ path: String, _ node: Node) -> Bool {
        if let oldest, node.mtime < oldest.nanoseconds { return false }
        if let newest, node.mtime > newest.nanoseconds { return false }
        return patterns.contains { $0.matches(path) }
    }
}

extension Repository {
    /// The nodes of one snapshot tree that match, with their paths, in tree order.
    public func find(_ query: FindQuery, in root: ID) throws -> [(path: String, node: Node)] {
        var found: [(path: String, node: Node)] = []
        try walk(root) { path, node in
            if query.matches(path, node) { found.append((path, node)) }
            return true
        }
        return found
    }
}
