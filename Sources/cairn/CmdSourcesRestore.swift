import ArgumentParser
import CairnCore
import CairnArchive
import CairnTree
import CairnFormat
import CairnRepository
import CairnSources
import FoundationEssentials

/// `cairn restore`: into a folder (the default, `files`), or a source snapshot back into its tool.
struct RestoreGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a snapshot into a folder; or a source snapshot into its tool (a volume, an instance).",
        discussion: """
            `cairn restore SNAPSHOT[:PATH] --target FOLDER` is `cairn restore files`: see `cairn restore files --help`. \
            The source subcommands stream a snapshot made by `cairn backup KIND` into the tool's import; `latest` means the \
            newest snapshot of that kind (safety snapshots left out). Replacing what exists (--replace) first saves its \
            current state as a snapshot tagged `safety`, and rolls back from it if the restore fails.
            """,
        subcommands: [Restore.self, RestorePodmanVolume.self, RestoreDockerVolume.self, RestoreIncus.self, RestoreIncusVolume.self],
        defaultSubcommand: Restore.self)
}

/// Opens the repository under a shared lock and finds the source snapshot and its stream.
struct SourceRestoreContext {
    let repo: Repository
    let lock: RepositoryLock?
    let id: ID
    let source: SourceRef
    let node: Node
    let snapshot: Snapshot

    init(_ global: GlobalOptions, _ filters: FilterOptions, _ spec: String, _ kind: SourceKind) throws {
        repo = try global.open()
        lock = try global.readLock(repo, operation: "restore")
        do {
            try repo.loadIndex()
            (id, snapshot, source) = try repo.resolveSource(spec, kind: kind, filter: try filters.filter)
            node = try repo.streamNode(snapshot)
        } catch { lock?.release(); throw error }
    }

    /// Options for a safety snapshot: the host and time of now, no user tags.
    var safetyOptions: BackupOptions { BackupOptions() }
}

/// Options of the volume restores.
struct VolumeRestoreOptions: ParsableArguments {
    @Option(name: [.customLong("name"), .customLong("target-name")], help: "Restore into this volume (default: the one backed up).")
    var name: String?
    @Flag(help: "Replace an existing volume: save it as a safety snapshot, remove it, create it again (same driver, labels, options) and import; roll back if the import fails.")
    var replace = false
    @Flag(help: "Import over an existing volume's files (what `volume import` does), after a safety snapshot; roll back if the import fails.")
    var merge = false

    func validate() throws { if replace && merge { throw ValidationError("--replace and --merge exclude each other") } }
}

/// Restores a volume snapshot: into a new volume (created first), or over an existing one
/// (--replace, --merge) through a safety snapshot. `tool` builds the commands for the target.
func restoreVolume(_ ctx: SourceRestoreContext, _ target: SourceRef, _ opts: VolumeRestoreOptions, quiet: Bool,
                   exists: Bool, info: () throws -> VolumeInfo?, create: (VolumeInfo?) -> [String], remove: [String],
                   export: (VolumeInfo?) throws -> [String], importing: (VolumeInfo?) throws -> [String]) throws {
    let say: (String) -> Void = { if !quiet { stdout("\(target): " + $0) } }
    let warn: (String) -> Void = { stderr("\(target): " + $0) }
    if !exists {
        try Tool.run(create(nil))
        do { try Tool.feed(try importing(try info()), from: ctx.repo, node: ctx.node) } catch {
            _ = try? Tool.status(remove)
            stderr("\(target): restore failed; the volume it had created was removed")
            throw error
        }
        say("created and restored from snapshot \(ctx.id.short) (\(ctx.source))")
        return
    }
    guard opts.replace || opts.merge else {
        throw SourceError.invalid("\(target) exists: restore into a new volume with --name NEW, or give --replace (or --merge); "
                                  + "either saves the current volume as a safety snapshot first")
    }
    let current = try info()
    let plan = ReplacePlan(exportCurrent: try export(current), remove: opts.replace ? [remove] : [], create: opts.replace ? [create(current)] : [],
                           importing: try importing(current), rollbackCleanUp: [remove], rollbackCreate: [create(current)])
    try SafetySnapshot.replace(target, with: ctx.node, plan: plan, repo: ctx.repo, options: ctx.safetyOptions, say: warn)
    say("\(opts.replace ? "replaced" : "merged") from snapshot \(ctx.id.short) (\(ctx.source))")
}

struct RestorePodmanVolume: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "podman-volume",
        abstract: "Restore a Podman volume snapshot (podman volume create, then podman volume import NAME -).")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var filters: FilterOptions
    @OptionGroup var opts: VolumeRestoreOptions
    @Argument(help: "Snapshot ID, prefix or `latest`.") var snapshot: String

    func run() throws {
        let ctx = try SourceRestoreContext(global, filters, snapshot, .podmanVolume)
        defer { ctx.lock?.release() }
        let target = SourceRef(.podmanVolume, opts.name ?? ctx.source.name)
        let exists = try Tool.status(PodmanVolume.exists(target.name)) == 0
        try restoreVolume(ctx, target, opts, quiet: global.quiet, exists: exists,
                          info: { try VolumeInfo.parse(try Tool.output(PodmanVolume.inspect(target.name))) },
                          create: { PodmanVolume.create(target.name, like: $0) }, remove: PodmanVolume.remove(target.name),
                          export: { _ in PodmanVolume.export(target.name) }, importing: { _ in PodmanVolume.importing(target.name) })
    }
}

struct RestoreDockerVolume: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "docker-volume",
        abstract: "Restore a Docker volume snapshot (docker volume create, then tar into its mountpoint or a helper container).",
        discussion: "--via auto (the default) extracts into the volume's mountpoint when this process can write it, else runs `docker run --rm -i --network none -v NAME:/v IMAGE tar -C /v -xpf -`.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var filters: FilterOptions
    @OptionGroup var opts: VolumeRestoreOptions
    @Option(help: ArgumentHelp("How to write the volume: auto, mountpoint or container.", valueName: "auto|mountpoint|container"))
    var via: DockerVolume.Access = .auto
    @Option(help: "Image of the helper container (it needs tar).") var image = "busybox"
    @Argument(help: "Snapshot ID, prefix or `latest`.") var snapshot: String

    func run() throws {
        let ctx = try SourceRestoreContext(global, filters, snapshot, .dockerVolume)
        defer { ctx.lock?.release() }
        let target = SourceRef(.dockerVolume, opts.name ?? ctx.source.name)
        let exists = try Tool.status(DockerVolume.inspect(target.name)) == 0
        let via = via, image = image
        try restoreVolume(ctx, target, opts, quiet: global.quiet, exists: exists,
                          info: { try VolumeInfo.parse(try Tool.output(DockerVolume.inspect(target.name))) },
                          create: { DockerVolume.create(target.name, like: $0) }, remove: DockerVolume.remove(target.name),
                          export: { info in
                              if via != .container, let info, let mp = DockerVolume.usableMountpoint(info, forWriting: false) {
                                  return DockerVolume.exportMountpoint(mp)
                              }
                              return DockerVolume.exportContainer(target.name, image: image)
                          },
                          importing: { info in
                              if via != .container, let info, let mp = DockerVolume.usableMountpoint(info, forWriting: true) {
                                  return DockerVolume.importMountpoint(mp)
                              }
                              if via == .mountpoint { throw SourceError.invalid("the mountpoint of \(target.name) cannot be written here") }
                              return DockerVolume.importContainer(target.name, image: image)
                          })
    }
}

/// --replace / --skip-existing, for the Incus restores.
struct IncusExistingOptions: ParsableArguments {
    @Flag(help: "Replace an existing one (after a safety snapshot of it; rolled back if the import fails).") var replace = false
    @Flag(name: .customLong("skip-existing"), help: "Do nothing when it exists.") var skipExisting = false

    func validate() throws { if replace && skipExisting { throw ValidationError("--replace and --skip-existing exclude each other") } }
    var ifExists: IncusRestore.IfExists { replace ? .replace : skipExisting ? .skip : .refuse }
}

struct RestoreIncus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "incus",
        abstract: "Restore an Incus instance snapshot (incus import - NAME).",
        discussion: """
            The instance is imported stopped, under its recorded name or --target-name. One that exists is left alone \
            unless --replace (incus export of the current instance into a safety snapshot, incus delete --force, \
            incus import; a failed import rolls back from the safety snapshot and starts the instance again if it was \
            running) or --skip-existing (nothing is done).
            """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var filters: FilterOptions
    @Argument(help: "Snapshot ID, prefix or `latest`.") var snapshot: String
    @Option(name: [.customLong("target-name"), .customLong("name")], help: "Restore as this instance (default: the one backed up).")
    var targetName: String?
    @OptionGroup var existing: IncusExistingOptions
    @Option(help: "Incus project (default: the client's current one).") var project: String?
    @Option(help: "Storage pool for the imported instance (incus import --storage).") var storage: String?

    func run() throws {
        let ctx = try SourceRestoreContext(global, filters, snapshot, .incus)
        defer { ctx.lock?.release() }
        let target = SourceRef(.incus, targetName ?? ctx.source.name)
        let outcome = try IncusRestore.instance(target, node: ctx.node, repo: ctx.repo, project: project, storage: storage,
                                                ifExists: existing.ifExists, say: { stderr("\(target): " + $0) })
        guard !global.quiet else { return }
        switch outcome {
        case .imported: stdout("\(target): imported from snapshot \(ctx.id.short) (\(ctx.source)); it is stopped: `incus start \(target.name)`")
        case .skipped: stdout("\(target): exists: skipped (--skip-existing)")
        case .replaced: stdout("\(target): replaced from snapshot \(ctx.id.short) (\(ctx.source)); it is stopped: `incus start \(target.name)`")
        }
    }
}

struct RestoreIncusVolume: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "incus-volume",
        abstract: "Restore an Incus custom volume snapshot (incus storage volume import POOL /proc/self/fd/0 VOLUME).",
        discussion: """
            The volume is imported under its recorded POOL/VOLUME, or --target-name VOLUME (same pool) or POOL/VOLUME. \
            One that exists is left alone unless --replace (its export into a safety snapshot, incus storage volume \
            delete, import; a failed import rolls back from the safety snapshot) or --skip-existing. A volume that an \
            instance uses is not replaced: detach it first.
            """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var filters: FilterOptions
    @Argument(help: "Snapshot ID, prefix or `latest`.") var snapshot: String
    @Option(name: [.customLong("target-name"), .customLong("name")], help: ArgumentHelp(
        "Restore as this volume (default: the one backed up).", valueName: "[POOL/]VOLUME"))
    var targetName: String?
    @OptionGroup var existing: IncusExistingOptions
    @Option(help: "Incus project (default: the client's current one).") var project: String?

    func run() throws {
        let ctx = try SourceRestoreContext(global, filters, snapshot, .incusVolume)
        defer { ctx.lock?.release() }
        let target = try IncusRestore.volumeTarget(recorded: ctx.source.name, targetName: targetName)
        let hasForce = try existing.replace ? IncusRestore.volumeExportHasForce() : false
        let outcome = try IncusRestore.volume(target, node: ctx.node, repo: ctx.repo, project: project, ifExists: existing.ifExists,
                                              hasForce: hasForce, say: { stderr("\(target): " + $0) })
        guard !global.quiet else { return }
        switch outcome {
        case .imported: stdout("\(target): imported from snapshot \(ctx.id.short) (\(ctx.source))")
        case .skipped: stdout("\(target): exists: skipped (--skip-existing)")
        case .replaced: stdout("\(target): replaced from snapshot \(ctx.id.short) (\(ctx.source))")
        }
    }
}
