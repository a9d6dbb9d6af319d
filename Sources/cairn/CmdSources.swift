import ArgumentParser
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

/// One snapshot to make: the source, and how to make it in a repository.
struct SourceJob: Sendable {
    var source: SourceRef
    var run: @Sendable (Repository, BackupOptions) throws -> BackupResult
}

/// Opens the repository (one connection per parallel worker, the password read once), takes
/// a shared lock, and runs the jobs, `parallel` at a time. A failed job (its export command
/// missing or failing) is reported and saves no snapshot; the others go on. Exit 1 when every
/// source failed, 3 when some did (as backup's paths), 130 when interrupted.
func runSourceBackups(_ global: GlobalOptions, _ options: BackupOptions, parallel: Int = 1, _ jobs: [SourceJob]) throws {
    let password = try global.password()
    let repo = try global.open(readPassword: { password })
    let lock = try global.writeLock(repo, exclusive: false, operation: "backup")
    defer { lock.release() }
    try repo.loadIndex()
    let adopted = try repo.indexUnindexedPacks()
    if adopted.fromJournal + adopted.fromHeaders > 0 && !global.quiet {
        stderr("reusing \(adopted.fromJournal + adopted.fromHeaders) pack(s) left by an interrupted backup or prune")
    }
    let workers = max(1, min(parallel, jobs.count))
    var opened = [repo]
    for _ in 1..<workers {
        let r = try global.open(readPassword: { password })
        try r.loadIndex()
        opened.append(r)
    }
    let repos = opened
    let next = Locked(0)
    let failures = Locked([String]())
    let interrupted = Locked(false)
    let quiet = global.quiet, json = global.json
    let done = Locked([(String, BackupResult)]())
    let work: @Sendable (Int) -> Void = { w in
        while !interrupted.withLock({ $0 }) {
            let i = next.withLock { n -> Int in defer { n += 1 }; return n }
            guard i < jobs.count else { return }
            let job = jobs[i]
            do {
                let r = try job.run(repos[w], options)
                for n in r.notices { stderr("warning: \(job.source): \(n)") }
                done.withLock { $0.append((job.source.path, r)) }
                if !quiet && !json {
                    let s = r.snapshot.summary
                    stdout("\(job.source): snapshot \(r.snapshotID?.short ?? "-") saved: \(formatBytes(s.totalBytes)) read, "
                           + "\(formatBytes(s.bytesAdded)) added (\(formatBytes(s.bytesStored)) stored)")
                }
            } catch RepositoryError.interrupted {
                interrupted.withLock { $0 = true }
            } catch {
                stderr("cairn: \(job.source): \(error)")
                failures.withLock { $0.append(job.source.path) }
            }
        }
    }
    if workers == 1 { work(0) } else { DispatchQueue.concurrentPerform(iterations: workers, execute: work) }
    if json {
        struct Out: Encodable { var source: String; var snapshot_id: String?; var summary: CairnFormatSummary; var notices: [String] }
        try global.emit(json: done.withLock { $0 }.map { Out(source: $0.0, snapshot_id: $0.1.snapshotID?.hex, summary: $0.1.snapshot.summary, notices: $0.1.notices) })
    }
    if interrupted.withLock({ $0 }) {
        stderr("interrupted: no snapshot was saved for the source being backed up; packs already written are reused by the next backup")
        throw ExitWith(code: .interrupted)
    }
    let failed = failures.withLock { $0 }
    if !failed.isEmpty {
        stderr("\(failed.count) of \(jobs.count) source(s) failed: \(failed.joined(separator: ", ")); no snapshot was saved for them")
        throw ExitWith(code: failed.count == jobs.count ? .fatal : .incomplete)
    }
}

struct BackupPodmanVolume: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "podman-volume",
        abstract: "Back up Podman volumes (podman volume export NAME), one snapshot each.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var source: SourceBackupOptions
    @Argument(help: "Volume names.") var names: [String]

    func run() throws {
        try runSourceBackups(global, source.backupOptions, names.map { name in
            let ref = SourceRef(.podmanVolume, name)
            return SourceJob(source: ref) { repo, o in try Tool.backup(PodmanVolume.export(name), into: repo, options: o, source: ref) }
        })
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
        let via = via, image = image, quiet = global.quiet
        try runSourceBackups(global, source.backupOptions, names.map { name in
            let ref = SourceRef(.dockerVolume, name)
            return SourceJob(source: ref) { repo, o in
                let info = try VolumeInfo.parse(try Tool.output(DockerVolume.inspect(name)))
                if via != .container, let mp = DockerVolume.usableMountpoint(info, forWriting: false) {
                    do { return try Tool.backup(DockerVolume.exportMountpoint(mp), into: repo, options: o, source: ref) }
                    catch RepositoryError.interrupted { throw RepositoryError.interrupted }
                    catch where via == .auto {
                        if !quiet { stderr("\(ref): reading \(mp) failed (\(error)); trying a helper container") }
                    }
                } else if via == .mountpoint {
                    throw SourceError.invalid("the mountpoint of \(name) cannot be read here (driver \(info.Driver ?? "?"), \(info.Mountpoint ?? "no mountpoint"))")
                }
                return try Tool.backup(DockerVolume.exportContainer(name, image: image), into: repo, options: o, source: ref)
            }
        })
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
        let listed = try Incus.parseList(try Tool.output(Incus.list(project: project)))
        let names = all ? listed.map(\.name) : instances
        if names.isEmpty && !global.quiet { stdout("no instances in the project") }
        let project = project, instanceOnly = instanceOnly, optimized = optimizedStorage, useSnapshot = !noSnapshot
        var o = source.backupOptions
        if let project { o.tags.append("incus-project:" + project) }
        try runSourceBackups(global, o, parallel: parallel, names.map { name in
            let ref = SourceRef(.incus, name)
            let instance = listed.first { $0.name == name }
            return SourceJob(source: ref) { repo, o in
                guard let instance else { throw SourceError.invalid("no instance \(name) in \(project.map { "project " + $0 } ?? "the current project")") }
                let plan = Incus.backupPlan(instance, project: project, instanceOnly: instanceOnly, optimizedStorage: optimized,
                                            useSnapshot: useSnapshot, temporaryName: Incus.temporaryName())
                return try runPlan(plan, ref) { try Tool.backup(plan.export, into: repo, options: o, source: ref) }
            }
        })
    }
}

/// Runs a plan's `before` steps, the backup, then the clean-up steps that undo the `before`
/// steps that succeeded (even when the backup failed; a failed clean-up is a warning).
func runPlan(_ plan: Incus.InstancePlan, _ ref: SourceRef, _ backup: () throws -> BackupResult) throws -> BackupResult {
    var completed = 0
    defer {
        for argv in plan.after.suffix(completed) {
            if (try? Tool.status(argv)) != 0 { stderr("warning: \(ref): clean-up `\(argv.joined(separator: " "))` failed: remove it by hand") }
        }
    }
    for argv in plan.before { try Tool.run(argv); completed += 1 }
    return try backup()
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
        let project = project, volumeOnly = volumeOnly, optimized = optimizedStorage
        let hasForce = try IncusRestore.volumeExportHasForce()
        var o = source.backupOptions
        if let project { o.tags.append("incus-project:" + project) }
        try runSourceBackups(global, o, volumes.map { v in
            let (pool, volume) = Incus.splitVolume(v)!
            let ref = SourceRef(.incusVolume, v)
            return SourceJob(source: ref) { repo, o in
                try Tool.backup(Incus.volumeExport(pool: pool, volume: volume, project: project, volumeOnly: volumeOnly,
                                                   optimizedStorage: optimized, hasForce: hasForce), into: repo, options: o, source: ref)
            }
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
        let ref = SourceRef(.incusConfig, "local")
        try runSourceBackups(global, source.backupOptions, [SourceJob(source: ref) { repo, o in
            let tar = try IncusConfig.collect(mtime: Timestamp.now().nanoseconds / 1_000_000_000)
            return try Tool.backup(bytes: tar, into: repo, options: o, source: ref)
        }])
    }
}
