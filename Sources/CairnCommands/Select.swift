import CairnCore
import CairnTree
import CairnFormat
import CairnRepository

/// The snapshots tag and rewrite change: those named (IDs, prefixes, `latest`), else every
/// snapshot the filter matches (§11.3: an unreadable one refuses unless the filter skips it).
/// Also every readable snapshot, to recognize one an interrupted earlier run already saved.
func selectSnapshots(_ repo: Repository, named: [String], filter f: SnapshotFilter) throws -> (all: [(ID, Snapshot)], targets: [(ID, Snapshot)]) {
    guard !named.isEmpty else {
        let targets = try repo.matchingSnapshots(f)
        return (try repo.snapshots().snapshots, targets)
    }
    let (all, _) = try repo.snapshots()
    var targets: [(ID, Snapshot)] = []
    for s in named {
        let t = try repo.resolveSnapshot(s, filter: f)
        if !targets.contains(where: { $0.0 == t.0 }) { targets.append(t) }
    }
    return (all, targets)
}
