import CairnCore
import CairnTree
import CairnArchive
import CairnFormat
import CairnRepository

/// What a source restore did.
public enum RestoreOutcome: Sendable, Equatable {
    /// Imported into a new instance or volume (created first where the tool needs that).
    case imported
    /// The target existed and skipping was asked for: nothing was run.
    case skipped
    /// The target existed and was replaced; its previous state is in this safety snapshot.
    case replaced(safety: ID)
    /// The stream was imported over the existing target's files, after this safety snapshot.
    case merged(safety: ID)
}

/// Podman and Docker volumes: into a new volume (created first, removed again if the import
/// fails), or over an existing one (`replace`: remove, create like it, import; `merge`:
/// import over its files) through a safety snapshot, rolled back from it when the import fails.
public struct VolumeRestore: Sendable {
    public enum IfExists: Sendable, Equatable { case refuse, replace, merge }

    /// The commands for one volume of one tool.
    public struct Tooling: Sendable {
        public var exists: @Sendable () throws -> Bool
        public var info: @Sendable () throws -> VolumeInfo?
        public var create: @Sendable (VolumeInfo?) -> [String]
        public var remove: [String]
        public var export: @Sendable (VolumeInfo?) throws -> [String]
        public var importing: @Sendable (VolumeInfo?) throws -> [String]
    }

    public var target: SourceRef
    public var ifExists: IfExists
    public var tooling: Tooling

    public init(target: SourceRef, ifExists: IfExists, tooling: Tooling) {
        self.target = target; self.ifExists = ifExists; self.tooling = tooling
    }

    /// `podman volume create`, `import`, `export`, `rm`.
    public static func podman(_ name: String, ifExists: IfExists) -> VolumeRestore {
        VolumeRestore(target: SourceRef(.podmanVolume, name), ifExists: ifExists, tooling: Tooling(
            exists: { try Tool.status(PodmanVolume.exists(name)) == 0 },
            info: { try VolumeInfo.parse(try Tool.output(PodmanVolume.inspect(name))) },
            create: { PodmanVolume.create(name, like: $0) }, remove: PodmanVolume.remove(name),
            export: { _ in PodmanVolume.export(name) }, importing: { _ in PodmanVolume.importing(name) }))
    }

    /// `docker volume create` and `rm`; the files through the mountpoint or a helper container.
    public static func docker(_ name: String, ifExists: IfExists, via: DockerVolume.Access, image: String) -> VolumeRestore {
        VolumeRestore(target: SourceRef(.dockerVolume, name), ifExists: ifExists, tooling: Tooling(
            exists: { try Tool.status(DockerVolume.inspect(name)) == 0 },
            info: { try VolumeInfo.parse(try Tool.output(DockerVolume.inspect(name))) },
            create: { DockerVolume.create(name, like: $0) }, remove: DockerVolume.remove(name),
            export: { info in
                if via != .container, let info, let mp = DockerVolume.usableMountpoint(info, forWriting: false) {
                    return DockerVolume.exportMountpoint(mp)
                }
                return DockerVolume.exportContainer(name, image: image)
            },
            importing: { info in
                if via != .container, let info, let mp = DockerVolume.usableMountpoint(info, forWriting: true) {
                    return DockerVolume.importMountpoint(mp)
                }
                if via == .mountpoint { throw SourceError.invalid("the mountpoint of \(name) cannot be written here") }
                return DockerVolume.importContainer(name, image: image)
            }))
    }

    /// Restores the stream `node` of `repo` into the volume.
    public func run(node: Node, repo: Repository, events: EventSink) throws -> RestoreOutcome {
        let t = tooling
        guard try t.exists() else {
            try Tool.run(t.create(nil))
            do { try Tool.feed(try t.importing(try t.info()), from: repo, node: node) } catch {
                _ = try? Tool.status(t.remove)
                events(.warning("\(target): restore failed; the volume it had created was removed"))
                throw error
            }
            return .imported
        }
        guard ifExists != .refuse else {
            throw SourceError.invalid("\(target) exists: restore into a new volume with --name NEW, or give --replace (or --merge); "
                                      + "either saves the current volume as a safety snapshot first")
        }
        let current = try t.info()
        let replace = ifExists == .replace
        let plan = ReplacePlan(exportCurrent: try t.export(current), remove: replace ? [t.remove] : [], create: replace ? [t.create(current)] : [],
                               importing: try t.importing(current), rollbackCleanUp: [t.remove], rollbackCreate: [t.create(current)])
        let safety = try SafetySnapshot.replace(target, with: node, plan: plan, repo: repo, options: BackupOptions(),
                                                say: { events(.step("\(target): " + $0)) })
        return replace ? .replaced(safety: safety) : .merged(safety: safety)
    }
}
