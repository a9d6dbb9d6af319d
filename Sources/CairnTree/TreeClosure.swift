import CairnCore
import CairnFormat
import CairnRepository
import Dispatch

/// Every tree reachable from some roots, each loaded once, several loads in flight: a level
/// of the trees at a time, in batches, so the trees held at once stay bounded (the IDs of the
/// next level are all that accumulates). Used by prune's marking and by check.
package enum TreeClosure {
    /// Calls `visit` for each tree loaded and `failed` for each that does not load (either may
    /// throw to stop), both on the caller's thread, in no particular order.
    package static func walk(_ repo: Repository, roots: [ID], loads: Int = 8, batch: Int = 2048,
                     failed: (ID, any Error) throws -> Void, visit: (ID, Tree) throws -> Void) throws {
        var seen = Set<ID>()
        var level = roots.filter { seen.insert($0).inserted }
        while !level.isEmpty {
            var next: [ID] = []
            for start in stride(from: 0, to: level.count, by: batch) {
                try repo.checkCancelled()
                let ids = Array(level[start..<min(level.count, start + batch)])
                let results = Locked([Result<Tree, any Error>?](repeating: nil, count: ids.count))
                let workers = min(loads, ids.count)
                DispatchQueue.concurrentPerform(iterations: workers) { w in
                    for i in stride(from: w, to: ids.count, by: workers) {
                        let r = Result { try repo.loadTree(ids[i]) }
                        results.withLock { $0[i] = r }
                    }
                }
                for (i, r) in results.withLock({ $0 }).enumerated() {
                    switch r! {
                    case .failure(let e): try failed(ids[i], e)
                    case .success(let tree):
                        try visit(ids[i], tree)
                        for n in tree.nodes { if let sub = n.subtree, seen.insert(sub).inserted { next.append(sub) } }
                    }
                }
            }
            level = next
        }
    }
}

extension Repository {
    /// The trees and data blobs the roots reference, each tree read once (the shared walk). A
    /// tree that does not load stops it, unless `failed` returns: then it counts as referenced.
    package func usedBlobs(_ roots: [ID], failed: (ID, any Error) throws -> Void = { throw $1 }) throws -> (data: Set<ID>, trees: Set<ID>) {
        var data = Set<ID>(), trees = Set<ID>()
        try TreeClosure.walk(self, roots: roots, failed: { id, error in try failed(id, error); trees.insert(id) }) { id, tree in
            trees.insert(id)
            for n in tree.nodes { data.formUnion(n.chunks) }
        }
        return (data, trees)
    }
}
