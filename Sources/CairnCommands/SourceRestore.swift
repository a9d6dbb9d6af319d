import CairnCore
import CairnTree
import CairnArchive
import CairnFormat
import CairnRepository
import CairnSources

/// `restore KIND SNAPSHOT`: a source snapshot streamed back into its tool's import. Replacing
/// what exists first saves it as a safety snapshot and rolls back from it when the import fails.
public struct SourceRestoreCommand: RepositoryCommand {
    /// Where the snapshot goes and what to do when the target exists.
    public enum Target: Sendable {
        /// A Podman volume: `name` nil keeps the recorded one.
        case podmanVolume(name: String?, ifExists: VolumeRestore.IfExists)
        case dockerVolume(name: String?, ifExists: VolumeRestore.IfExists, via: DockerVolume.Access, image: String)
        case incus(name: String?, ifExists: IncusRestore.IfExists, project: String?, storage: String?)
        /// `name`: VOLUME (the recorded pool) or POOL/VOLUME.
        case incusVolume(name: String?, ifExists: IncusRestore.IfExists, project: String?)

        public var kind: SourceKind {
            switch self {
            case .podmanVolume: return .podmanVolume
            case .dockerVolume: return .dockerVolume
            case .incus: return .incus
            case .incusVolume: return .incusVolume
            }
        }
        /// Whether the restore may save a safety snapshot (it then writes to the repository).
        var mayWrite: Bool {
            switch self {
            case .podmanVolume(_, let e), .dockerVolume(_, let e, _, _): return e != .refuse
            case .incus(_, let e, _, _), .incusVolume(_, let e, _): return e == .replace
            }
        }
    }

    /// Snapshot ID, prefix or `latest` (the newest of the target's kind, safety snapshots left out).
    public var snapshot: String
    public var filter = SnapshotFilter()
    public var target: Target

    public init(snapshot: String, target: Target) { self.snapshot = snapshot; self.target = target }

    public var operation: String { "restore" }
    public var lock: LockNeed { .shared(readOnly: !target.mayWrite) }

    public struct Result: Codable, Sendable {
        public var snapshot_id: String
        /// The source the snapshot was made of, and where it was restored to (`KIND:NAME`).
        public var source: String
        public var target: String
        /// imported, skipped, replaced or merged.
        public var outcome: String
        public var safety_snapshot_id: String?
    }

    public func run(_ repo: Repository, _ context: CommandContext) throws -> Result {
        try repo.loadIndex()
        let (id, snap, source) = try repo.resolveSource(snapshot, kind: target.kind, filter: filter)
        let node = try repo.streamNode(snap)
        let say: (String) -> Void = { context.step($0) }
        let ref: SourceRef, outcome: RestoreOutcome
        switch target {
        case .podmanVolume(let name, let ifExists):
            let v = VolumeRestore.podman(name ?? source.name, ifExists: ifExists)
            ref = v.target; outcome = try v.run(node: node, repo: repo, events: context.events)
        case .dockerVolume(let name, let ifExists, let via, let image):
            let v = VolumeRestore.docker(name ?? source.name, ifExists: ifExists, via: via, image: image)
            ref = v.target; outcome = try v.run(node: node, repo: repo, events: context.events)
        case .incus(let name, let ifExists, let project, let storage):
            ref = SourceRef(.incus, name ?? source.name)
            outcome = try IncusRestore.instance(ref, node: node, repo: repo, project: project, storage: storage, ifExists: ifExists,
                                                say: { say("\(ref): " + $0) })
        case .incusVolume(let name, let ifExists, let project):
            ref = try IncusRestore.volumeTarget(recorded: source.name, targetName: name)
            let hasForce = ifExists == .replace ? try IncusRestore.volumeExportHasForce() : false
            outcome = try IncusRestore.volume(ref, node: node, repo: repo, project: project, ifExists: ifExists, hasForce: hasForce,
                                              say: { say("\(ref): " + $0) })
        }
        var r = Result(snapshot_id: id.hex, source: source.path, target: ref.path, outcome: "imported", safety_snapshot_id: nil)
        switch outcome {
        case .imported: break
        case .skipped: r.outcome = "skipped"
        case .replaced(let s): r.outcome = "replaced"; r.safety_snapshot_id = s.hex
        case .merged(let s): r.outcome = "merged"; r.safety_snapshot_id = s.hex
        }
        return r
    }
}
