import CairnCore
import CairnArchive
import CairnTree
import CairnFormat
import CairnRepository

/// `restore incus` and `restore incus-volume`: a snapshot's stream into `incus import` or
/// `incus storage volume import`, under its recorded name or another. What exists is left
/// alone unless told: `.replace` (a safety snapshot of it first, rolled back from on a failed
/// import) or `.skip`.
public enum IncusRestore {
    /// What to do when the target exists.
    public enum IfExists: Sendable, Equatable { case refuse, replace, skip }

    public typealias Outcome = RestoreOutcome

    /// Why a restore did nothing.
    public enum Refusal: Error, Equatable, CustomStringConvertible {
        /// The target exists and neither `.replace` nor `.skip` was given.
        case exists(SourceRef)
        /// A volume that instances use cannot be removed to be replaced.
        case inUse(SourceRef, [String])

        public var description: String {
            switch self {
            case .exists(let t):
                return "\(t) exists: restore it under another name with --target-name NEW, or give --replace "
                    + "(a safety snapshot of it is saved first) or --skip-existing"
            case .inUse(let t, let users):
                return "\(t) is in use (\(users.joined(separator: ", "))): detach it first, or restore it under another "
                    + "name with --target-name NEW; nothing was changed"
            }
        }
    }

    /// Where a volume snapshot goes: `targetName` is VOLUME (in the recorded pool) or
    /// POOL/VOLUME; nil keeps the recorded POOL/VOLUME.
    public static func volumeTarget(recorded: String, targetName: String?) throws -> SourceRef {
        guard let (pool, volume) = Incus.splitVolume(recorded) else {
            throw SourceError.invalid("the snapshot records \(recorded), not POOL/VOLUME")
        }
        guard let t = targetName else { return SourceRef(.incusVolume, pool + "/" + volume) }
        if t.contains("/") {
            guard let (p, v) = Incus.splitVolume(t) else { throw SourceError.invalid("give --target-name as VOLUME or POOL/VOLUME: \(t)") }
            return SourceRef(.incusVolume, p + "/" + v)
        }
        guard !t.isEmpty else { throw SourceError.invalid("--target-name is empty") }
        return SourceRef(.incusVolume, pool + "/" + t)
    }

    /// Nothing of that name: imports the stream and returns nil. Otherwise returns what exists,
    /// for the caller's skip, refuse or replace.
    static func importUnlessExists<T>(_ existing: T?, _ importing: [String], _ node: Node, _ repo: Repository) throws -> T? {
        guard let existing else { try Tool.feed(importing, from: repo, node: node); return nil }
        return existing
    }

    /// Restores an instance snapshot's stream `node` as `target` (kind `.incus`).
    public static func instance(_ target: SourceRef, node: Node, repo: Repository, project: String?, storage: String?,
                                ifExists: IfExists, say: (String) -> Void) throws -> Outcome {
        let listed = try Incus.parseList(try Tool.output(Incus.list(project: project)))
        let importing = Incus.importing(as: target.name, project: project, storage: storage)
        guard let existing = try importUnlessExists(listed.first(where: { $0.name == target.name }), importing, node, repo)
        else { return .imported }
        switch ifExists {
        case .skip: return .skipped
        case .refuse: throw Refusal.exists(target)
        case .replace:
            let delete = Incus.delete(target.name, force: true, project: project)
            let plan = ReplacePlan(
                exportCurrent: Incus.export(target.name, project: project, instanceOnly: false, optimizedStorage: false),
                remove: [delete], create: [], importing: importing, rollbackCleanUp: [delete], rollbackCreate: [],
                afterRollback: existing.isStopped ? [] : [Incus.start(target.name, project: project)])
            return .replaced(safety: try SafetySnapshot.replace(target, with: node, plan: plan, repo: repo, options: BackupOptions(), say: say))
        }
    }

    /// Restores a custom volume snapshot's stream `node` as `target` (kind `.incusVolume`,
    /// POOL/VOLUME). A volume that an instance uses is not replaced (`Refusal.inUse`), before
    /// anything is run.
    public static func volume(_ target: SourceRef, node: Node, repo: Repository, project: String?, ifExists: IfExists,
                              hasForce: Bool, say: (String) -> Void) throws -> Outcome {
        guard let (pool, volume) = Incus.splitVolume(target.name) else { throw SourceError.invalid("\(target) is not POOL/VOLUME") }
        let listed = try Incus.parseVolumes(try Tool.output(Incus.volumeList(pool: pool, project: project)))
        let importing = Incus.volumeImport(pool: pool, volume: volume, project: project)
        guard let existing = try importUnlessExists(listed.first(where: { $0.name == volume && $0.type == "custom" }), importing, node, repo)
        else { return .imported }
        switch ifExists {
        case .skip: return .skipped
        case .refuse: throw Refusal.exists(target)
        case .replace:
            if let users = existing.usedBy, !users.isEmpty { throw Refusal.inUse(target, users) }
            let delete = Incus.volumeDelete(pool: pool, volume: volume, project: project)
            let plan = ReplacePlan(
                exportCurrent: Incus.volumeExport(pool: pool, volume: volume, project: project, volumeOnly: false,
                                                  optimizedStorage: false, hasForce: hasForce),
                remove: [delete], create: [], importing: importing, rollbackCleanUp: [delete], rollbackCreate: [])
            return .replaced(safety: try SafetySnapshot.replace(target, with: node, plan: plan, repo: repo, options: BackupOptions(), say: say))
        }
    }

    /// Whether this client's `storage volume export` has `--force` (see `Incus.volumeExport`).
    public static func volumeExportHasForce() throws -> Bool {
        Incus.volumeExportHasForce(help: try Tool.output(Incus.volumeExportHelp()))
    }
}
