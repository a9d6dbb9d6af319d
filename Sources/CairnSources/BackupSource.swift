import CairnCore
import CairnTree
import CairnArchive
import CairnRepository

/// A source whose export tool writes one stream that becomes one snapshot (format-spec §11:
/// tags `KIND` and `KIND:NAME`, path `KIND:NAME`, one file). Adding a kind of source is one
/// type conforming to this (and, to restore it, to `RestorableSource`) plus one case in
/// `SourceKind`.
public protocol BackupSource: Sendable {
    var ref: SourceRef { get }
    /// Runs the export into `repo` as the source's stream snapshot. `events` hears of steps
    /// taken and fallbacks tried; a tool that fails throws and saves no snapshot.
    func backup(into repo: Repository, options: BackupOptions, events: EventSink) throws -> BackupResult
}

/// `podman volume export NAME`.
public struct PodmanVolumeSource: BackupSource {
    public let ref: SourceRef
    public init(_ name: String) { ref = SourceRef(.podmanVolume, name) }
    public func backup(into repo: Repository, options: BackupOptions, events: EventSink) throws -> BackupResult {
        try Tool.backup(PodmanVolume.export(ref.name), into: repo, options: options, source: ref)
    }
}

/// A Docker volume through its mountpoint or a helper container (`DockerVolume.Access`).
public struct DockerVolumeSource: BackupSource {
    public let ref: SourceRef
    public var via: DockerVolume.Access
    public var image: String
    public init(_ name: String, via: DockerVolume.Access = .auto, image: String = "busybox") {
        ref = SourceRef(.dockerVolume, name); self.via = via; self.image = image
    }

    public func backup(into repo: Repository, options: BackupOptions, events: EventSink) throws -> BackupResult {
        let info = try VolumeInfo.parse(try Tool.output(DockerVolume.inspect(ref.name)))
        if via != .container, let mp = DockerVolume.usableMountpoint(info, forWriting: false) {
            do { return try Tool.backup(DockerVolume.exportMountpoint(mp), into: repo, options: options, source: ref) }
            catch RepositoryError.interrupted { throw RepositoryError.interrupted }
            catch where via == .auto { events(.step("reading \(mp) failed (\(error)); trying a helper container")) }
        } else if via == .mountpoint {
            throw SourceError.invalid("the mountpoint of \(ref.name) cannot be read here (driver \(info.Driver ?? "?"), \(info.Mountpoint ?? "no mountpoint"))")
        }
        return try Tool.backup(DockerVolume.exportContainer(ref.name, image: image), into: repo, options: options, source: ref)
    }
}

/// An Incus instance: `incus export`, through a temporary snapshot and copy when it runs.
public struct IncusInstanceSource: BackupSource {
    public let ref: SourceRef
    /// The instance as `incus list` showed it; nil: it does not exist (the backup fails).
    public var instance: Incus.Instance?
    public var project: String?
    public var instanceOnly = false, optimizedStorage = false, useSnapshot = true

    public init(_ name: String, instance: Incus.Instance?, project: String?) {
        ref = SourceRef(.incus, name); self.instance = instance; self.project = project
    }

    /// Every instance of the project, or those named (a name not listed fails its own backup).
    public static func listed(_ names: [String]?, project: String?) throws -> [IncusInstanceSource] {
        let listed = try Incus.parseList(try Tool.output(Incus.list(project: project)))
        return (names ?? listed.map(\.name)).map { name in
            IncusInstanceSource(name, instance: listed.first { $0.name == name }, project: project)
        }
    }

    public func backup(into repo: Repository, options: BackupOptions, events: EventSink) throws -> BackupResult {
        guard let instance else { throw SourceError.invalid("no instance \(ref.name) in \(project.map { "project " + $0 } ?? "the current project")") }
        let plan = Incus.backupPlan(instance, project: project, instanceOnly: instanceOnly, optimizedStorage: optimizedStorage,
                                    useSnapshot: useSnapshot, temporaryName: Incus.temporaryName())
        // The clean-up steps undo the `before` steps that succeeded, even when the backup failed.
        var completed = 0
        defer {
            for argv in plan.after.suffix(completed) where (try? Tool.status(argv)) != 0 {
                events(.warning("clean-up `\(argv.joined(separator: " "))` failed: remove it by hand"))
            }
        }
        for argv in plan.before { try Tool.run(argv); completed += 1 }
        return try Tool.backup(plan.export, into: repo, options: options, source: ref)
    }
}

/// An Incus custom volume: `incus storage volume export POOL VOLUME`.
public struct IncusVolumeSource: BackupSource {
    public let ref: SourceRef
    public var project: String?
    public var volumeOnly = false, optimizedStorage = false
    /// Whether the client's export takes --force (`IncusRestore.volumeExportHasForce()`).
    public var hasForce: Bool

    /// `volume` is POOL/VOLUME.
    public init(_ volume: String, project: String?, hasForce: Bool) throws {
        guard Incus.splitVolume(volume) != nil else { throw SourceError.invalid("give volumes as POOL/VOLUME: \(volume)") }
        ref = SourceRef(.incusVolume, volume); self.project = project; self.hasForce = hasForce
    }

    public func backup(into repo: Repository, options: BackupOptions, events: EventSink) throws -> BackupResult {
        let (pool, volume) = Incus.splitVolume(ref.name)!
        return try Tool.backup(Incus.volumeExport(pool: pool, volume: volume, project: project, volumeOnly: volumeOnly,
                                                  optimizedStorage: optimizedStorage, hasForce: hasForce),
                               into: repo, options: options, source: ref)
    }
}

/// The Incus server's projects, profiles, networks and storage pools as JSON documents.
public struct IncusConfigSource: BackupSource {
    public let ref = SourceRef(.incusConfig, "local")
    public init() {}
    public func backup(into repo: Repository, options: BackupOptions, events: EventSink) throws -> BackupResult {
        let tar = try IncusConfig.collect(mtime: Timestamp.now().nanoseconds / 1_000_000_000)
        return try Tool.backup(bytes: tar, into: repo, options: options, source: ref)
    }
}
