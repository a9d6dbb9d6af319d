import ArgumentParser
import CairnCommands
import CairnCore
import CairnArchive
import CairnRetention
import CairnTree
import CairnRepository
import CairnSources
import Dispatch
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// `cairn backup`: files, folders and streams (the default, `files`), or a source through
/// its own export tool.
struct BackupGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Back up files, folders or a stream; or a volume or instance through its own export tool.",
        discussion: """
            `cairn backup PATH...` (and --stdin, --stdin-from-command) is `cairn backup files`: see `cairn backup files --help` \
            for its options. A path named like a subcommand (a folder `incus`) is given as `./incus`. Each source subcommand \
            streams the tool's export into one snapshot per source, tagged KIND and KIND:NAME; no snapshot is saved when the \
            tool fails.
            """,
        subcommands: [Backup.self, BackupPodmanVolume.self, BackupDockerVolume.self, BackupIncus.self, BackupIncusVolume.self,
                      BackupIncusConfig.self],
        defaultSubcommand: Backup.self)
}

/// Options every source backup takes.
struct SourceBackupOptions: ParsableArguments {
    @Option(help: "Add a tag (repeatable; a,b adds both).") var tag: [String] = []
    @Option(help: "Host name to record (default: this machine's).") var host: String?

    var backupOptions: BackupOptions {
        var o = BackupOptions()
        o.tags = tag.flatMap { $0.split(separator: ",").map(String.init) }
        if let host { o.hostname = host }
        return o
    }
}

/// Runs the source backups through the library: the repository opened once per parallel
/// worker with the password read once. Exit 1 when every source failed, 3 when some did (as
/// backup's paths), 130 when interrupted.
func runSourceBackups(_ global: GlobalOptions, _ options: BackupOptions, parallel: Int = 1, _ sources: [any BackupSource]) throws {
    let password = try global.password()
    var command = SourceBackupCommand(sources: sources, options: options)
    command.parallel = parallel
    command.openAnother = { try global.open(readPassword: { password }) }
    let r = try command.execute(try global.open(readPassword: { password }), global.context())
    if global.json {
        try global.emit(json: r.saved.map { SourceOut(source: $0.source, snapshot_id: $0.snapshot_id, summary: $0.summary!, notices: $0.notices) })
    } else if !global.quiet {
        for o in r.saved {
            let s = o.summary!
            stdout("\(o.source): snapshot \(o.snapshot_id.map { String($0.prefix(8)) } ?? "-") saved: \(formatBytes(s.totalBytes)) read, "
                   + "\(formatBytes(s.bytesAdded)) added (\(formatBytes(s.bytesStored)) stored)")
        }
    }
    if r.interrupted {
        stderr("interrupted: no snapshot was saved for the source being backed up; packs already written are reused by the next backup")
        throw ExitWith(code: .interrupted)
    }
    for o in r.sources { if let e = o.error { stderr("cairn: \(o.source): \(e)") } }
    let failed = r.failed
    if !failed.isEmpty {
        stderr("\(failed.count) of \(sources.count) source(s) failed: \(failed.joined(separator: ", ")); no snapshot was saved for them")
        throw ExitWith(code: failed.count == sources.count ? .fatal : .incomplete)
    }
}

/// One source in `backup KIND --json` (what it printed before the library API).
struct SourceOut: Encodable { var source: String; var snapshot_id: String?; var summary: CairnFormatSummary; var notices: [String] }

struct BackupPodmanVolume: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "podman-volume",
        abstract: "Back up Podman volumes (podman volume export NAME), one snapshot each.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var source: SourceBackupOptions
    @Argument(help: "Volume names.") var names: [String]

    func run() throws {
        try runSourceBackups(global, source.backupOptions, names.map { PodmanVolumeSource($0) })
    }
}

extension DockerVolume.Access: ExpressibleByArgument {}

struct BackupDockerVolume: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "docker-volume",
        abstract: "Back up Docker volumes, one snapshot each.",
        discussion: """
            Docker has no volume export: with --via auto (the default) Cairn reads the volume's mountpoint \
            (docker volume inspect) with tar when it can (a local volume on this host, as root), else it runs \
            `docker run --rm --network none -v NAME:/v:ro IMAGE tar -C /v -cf - .`.
            """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var source: SourceBackupOptions
    @Option(help: ArgumentHelp("How to read the volume: auto, mountpoint or container.", valueName: "auto|mountpoint|container"))
    var via: DockerVolume.Access = .auto
    @Option(help: "Image of the helper container (it needs tar).") var image = "busybox"
    @Argument(help: "Volume names.") var names: [String]

    func run() throws {
        try runSourceBackups(global, source.backupOptions, names.map { DockerVolumeSource($0, via: via, image: image) })
    }
}

struct BackupIncus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "incus",
        abstract: "Back up Incus instances (incus export), one snapshot each.",
        discussion: """
            A running instance is exported through a temporary snapshot: incus snapshot create INSTANCE cairn-tmp-XXXXXXXX, \
            incus copy INSTANCE/cairn-tmp-XXXXXXXX cairn-tmp-XXXXXXXX (incus export takes instances, not snapshots), \
            incus export cairn-tmp-XXXXXXXX - --compression none --quiet; then the copy and the snapshot are deleted. \
            Such an export holds the instance without its own snapshots. --no-snapshot exports the live instance \
            (incus export INSTANCE - --compression none --quiet), as for a stopped one.
            """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var source: SourceBackupOptions
    @Argument(help: "Instance names.") var instances: [String] = []
    @Flag(help: "Every instance of the project (incus list --format json).") var all = false
    @Option(help: "Incus project (default: the client's current one).") var project: String?
    @Option(help: "Instances exported at once (with several instances or --all).") var parallel = 1
    @Flag(name: .customLong("instance-only"), help: "Without the instance's snapshots (incus export --instance-only).") var instanceOnly = false
    @Flag(name: .customLong("optimized-storage"), help: "The storage driver's own format (restores only on a pool of the same driver).") var optimizedStorage = false
    @Flag(name: .customLong("no-snapshot"), help: "Export running instances as they are, without a temporary snapshot.") var noSnapshot = false

    func validate() throws {
        if all == !instances.isEmpty { throw ValidationError("give instance names or --all") }
        if parallel < 1 || parallel > 64 { throw ValidationError("--parallel must be between 1 and 64") }
    }

    func run() throws {
        var sources = try IncusInstanceSource.listed(all ? nil : instances, project: project)
        if sources.isEmpty && !global.quiet { stdout("no instances in the project") }
        for i in sources.indices {
            sources[i].instanceOnly = instanceOnly; sources[i].optimizedStorage = optimizedStorage; sources[i].useSnapshot = !noSnapshot
        }
        var o = source.backupOptions
        if let project { o.tags.append("incus-project:" + project) }
        try runSourceBackups(global, o, parallel: parallel, sources)
    }
}

struct BackupIncusVolume: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "incus-volume",
        abstract: "Back up Incus custom storage volumes (incus storage volume export POOL VOLUME), one snapshot each.",
        discussion: """
            Runs incus storage volume export POOL VOLUME /proc/self/fd/1 --compression none --quiet (Incus 6.0 takes `-` \
            for a file name there), with --force when the client has it. `cairn restore incus-volume` imports it again.
            """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var source: SourceBackupOptions
    @Argument(help: "POOL/VOLUME names.") var volumes: [String]
    @Option(help: "Incus project (default: the client's current one).") var project: String?
    @Flag(name: .customLong("volume-only"), help: "Without the volume's snapshots.") var volumeOnly = false
    @Flag(name: .customLong("optimized-storage"), help: "The storage driver's own format.") var optimizedStorage = false

    func validate() throws {
        for v in volumes where Incus.splitVolume(v) == nil { throw ValidationError("give volumes as POOL/VOLUME: \(v)") }
    }

    func run() throws {
        let hasForce = try IncusRestore.volumeExportHasForce()
        var o = source.backupOptions
        if let project { o.tags.append("incus-project:" + project) }
        try runSourceBackups(global, o, try volumes.map { v in
            var s = try IncusVolumeSource(v, project: project, hasForce: hasForce)
            s.volumeOnly = volumeOnly; s.optimizedStorage = optimizedStorage
            return s
        })
    }
}

struct BackupIncusConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "incus-config",
        abstract: "Back up the Incus server's projects, profiles, networks and storage pools as JSON documents.",
        discussion: """
            One stream snapshot (tags incus-config, incus-config:local; file incus-config.tar) holding projects.json, \
            storage-pools.json, profiles/PROJECT.json and networks/PROJECT.json: what `incus ... list --format json` prints. \
            `cairn dump latest incus-config.tar | tar -xf -` gives them back; nothing is applied to the server.
            """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var source: SourceBackupOptions

    func run() throws {
        try runSourceBackups(global, source.backupOptions, [IncusConfigSource()])
    }
}
