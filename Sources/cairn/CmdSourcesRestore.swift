import ArgumentParser
import CairnCommands
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

/// Runs a source restore through the library and says what it did. Its steps (safety
/// snapshot, rollback) are always printed: they are the record of what was changed.
func runSourceRestore(_ global: GlobalOptions, _ filters: FilterOptions, _ snapshot: String, _ target: SourceRestoreCommand.Target) throws {
    var c = SourceRestoreCommand(snapshot: snapshot, target: target)
    c.filter = try filters.filter
    let r = try global.run(c, stepsAlways: true)
    if global.json { try global.emit(json: r); return }
    guard !global.quiet else { return }
    let from = "snapshot \(r.snapshot_id.prefix(8)) (\(r.source))"
    let stopped = target.kind == .incus ? "; it is stopped: `incus start \(r.target.dropFirst("incus:".count))`" : ""
    switch r.outcome {
    case "skipped": stdout("\(r.target): exists: skipped (--skip-existing)")
    case "replaced": stdout("\(r.target): replaced from \(from)\(stopped)")
    case "merged": stdout("\(r.target): merged from \(from)")
    default:
        stdout(target.kind == .incus || target.kind == .incusVolume ? "\(r.target): imported from \(from)\(stopped)"
                                                                    : "\(r.target): created and restored from \(from)")
    }
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
    var ifExists: VolumeRestore.IfExists { replace ? .replace : merge ? .merge : .refuse }
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
        try runSourceRestore(global, filters, snapshot, .podmanVolume(name: opts.name, ifExists: opts.ifExists))
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
        try runSourceRestore(global, filters, snapshot, .dockerVolume(name: opts.name, ifExists: opts.ifExists, via: via, image: image))
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
        try runSourceRestore(global, filters, snapshot, .incus(name: targetName, ifExists: existing.ifExists, project: project, storage: storage))
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
        try runSourceRestore(global, filters, snapshot, .incusVolume(name: targetName, ifExists: existing.ifExists, project: project))
    }
}
