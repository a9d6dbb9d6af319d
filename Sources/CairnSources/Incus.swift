import FoundationEssentials

/// Incus instances, custom volumes and server configuration, through the `incus` client.
/// Every command Cairn runs is built here (README "Sources" lists them).
public enum Incus {
    /// `--project P` when a project was given (the client's current project otherwise).
    static func project(_ p: String?) -> [String] { p.map { ["--project", $0] } ?? [] }

    /// Every instance of the project, as JSON (name, status, type, ...).
    public static func list(project: String?) -> [String] { ["incus", "list", "--format", "json"] + Self.project(project) }

    /// The instance as a backup tarball on standard output, uncompressed. `--quiet`: some
    /// clients print their progress to standard output too, after the tarball.
    public static func export(_ instance: String, project: String?, instanceOnly: Bool, optimizedStorage: Bool) -> [String] {
        ["incus", "export", instance, "-", "--compression", "none", "--quiet"]
            + (instanceOnly ? ["--instance-only"] : []) + (optimizedStorage ? ["--optimized-storage"] : []) + Self.project(project)
    }

    public static func snapshotCreate(_ instance: String, _ snapshot: String, project: String?) -> [String] {
        ["incus", "snapshot", "create", instance, snapshot] + Self.project(project)
    }

    public static func snapshotDelete(_ instance: String, _ snapshot: String, project: String?) -> [String] {
        ["incus", "snapshot", "delete", instance, snapshot] + Self.project(project)
    }

    /// A new stopped instance made from a snapshot (`incus export` takes instances, not
    /// snapshots). A copy of a snapshot has no snapshots of its own; the client refuses
    /// `--instance-only` there ("--instance-only can't be passed when the source is a snapshot").
    public static func copySnapshot(_ instance: String, _ snapshot: String, to copy: String, project: String?) -> [String] {
        ["incus", "copy", instance + "/" + snapshot, copy] + Self.project(project)
    }

    public static func delete(_ instance: String, force: Bool, project: String?) -> [String] {
        ["incus", "delete", instance] + (force ? ["--force"] : []) + Self.project(project)
    }

    public static func start(_ instance: String, project: String?) -> [String] { ["incus", "start", instance] + Self.project(project) }

    /// A new instance named `name` from a backup tarball on standard input.
    public static func importing(as name: String, project: String?, storage: String?) -> [String] {
        ["incus", "import", "-", name] + (storage.map { ["--storage", $0] } ?? []) + Self.project(project)
    }

    /// A custom storage volume as a backup tarball on standard output, uncompressed.
    /// Incus 6.0's `storage volume export` takes `-` for a file name (it writes a file named
    /// `-`) and prints its progress on standard output, so the target is the path of its own
    /// standard output, `/proc/self/fd/1`, with `--quiet`. Clients that refuse an existing
    /// target without `--force` have that flag (`hasForce`, from `volumeExportHelp`); with it,
    /// a failed export's clean-up tries to remove /proc/self/fd/1, which the kernel refuses.
    public static func volumeExport(pool: String, volume: String, project: String?, volumeOnly: Bool, optimizedStorage: Bool,
                                    hasForce: Bool = false) -> [String] {
        ["incus", "storage", "volume", "export", pool, volume, "/proc/self/fd/1", "--compression", "none", "--quiet"]
            + (hasForce ? ["--force"] : [])
            + (volumeOnly ? ["--volume-only"] : []) + (optimizedStorage ? ["--optimized-storage"] : []) + Self.project(project)
    }

    /// The help of `storage volume export`, read to see whether it has `--force`.
    public static func volumeExportHelp() -> [String] { ["incus", "storage", "volume", "export", "--help"] }

    /// Whether `storage volume export --help` lists `--force` (newer clients refuse an
    /// existing target path without it).
    public static func volumeExportHasForce(help: [UInt8]) -> Bool {
        String(decoding: help, as: UTF8.self).split(separator: "\n").contains {
            $0.split(whereSeparator: { $0 == " " || $0 == "," }).contains("--force")
        }
    }

    /// A new custom volume `volume` in `pool` from a backup tarball on standard input (read
    /// through /proc/self/fd/0: Incus 6.0's `storage volume import` takes `-` for a file name).
    public static func volumeImport(pool: String, volume: String, project: String?) -> [String] {
        ["incus", "storage", "volume", "import", pool, "/proc/self/fd/0", volume, "--quiet"] + Self.project(project)
    }

    public static func volumeDelete(pool: String, volume: String, project: String?) -> [String] {
        ["incus", "storage", "volume", "delete", pool, volume] + Self.project(project)
    }

    /// The volumes of a pool, as JSON (custom volumes and the instances' own).
    public static func volumeList(pool: String, project: String?) -> [String] {
        ["incus", "storage", "volume", "list", pool, "--format", "json"] + Self.project(project)
    }

    /// One volume of `incus storage volume list POOL --format json` (the members Cairn reads).
    public struct Volume: Decodable, Sendable, Equatable {
        public var name: String
        public var type: String
        public var usedBy: [String]?
        enum CodingKeys: String, CodingKey { case name, type, usedBy = "used_by" }
        public init(name: String, type: String, usedBy: [String]? = nil) { self.name = name; self.type = type; self.usedBy = usedBy }
    }

    public static func parseVolumes(_ json: [UInt8]) throws -> [Volume] {
        do { return try JSONDecoder().decode([Volume].self, from: Data(json)) } catch {
            throw SourceError.invalid("cannot read `incus storage volume list --format json`: \(error)")
        }
    }

    /// Splits `POOL/VOLUME`; nil unless both parts are there and non-empty.
    public static func splitVolume(_ s: String) -> (pool: String, volume: String)? {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    // incus-config: the server's configuration as JSON documents.
    public static func projectList() -> [String] { ["incus", "project", "list", "--format", "json"] }
    public static func profileList(project: String) -> [String] { ["incus", "profile", "list", "--format", "json", "--project", project] }
    public static func networkList(project: String) -> [String] { ["incus", "network", "list", "--format", "json", "--project", project] }
    public static func storageList() -> [String] { ["incus", "storage", "list", "--format", "json"] }

    /// A name for the temporary snapshot (and the temporary copy made from it).
    public static func temporaryName() -> String {
        let hex = Array("0123456789abcdef")
        return "cairn-tmp-" + String((0..<8).map { _ in hex[Int.random(in: 0..<16)] })
    }

    /// One instance of `incus list --format json` (the members Cairn reads).
    public struct Instance: Decodable, Sendable, Equatable {
        public var name: String
        public var status: String
        public var type: String?
        public init(name: String, status: String, type: String? = nil) { self.name = name; self.status = status; self.type = type }

        /// Stopped instances are exported as they are; others through a temporary snapshot.
        public var isStopped: Bool { status == "Stopped" }
    }

    public static func parseList(_ json: [UInt8]) throws -> [Instance] {
        do { return try JSONDecoder().decode([Instance].self, from: Data(json)) } catch {
            throw SourceError.invalid("cannot read `incus list --format json`: \(error)")
        }
    }

    /// Project names from `incus project list --format json`.
    public static func parseProjects(_ json: [UInt8]) throws -> [String] {
        struct P: Decodable { var name: String }
        do { return try JSONDecoder().decode([P].self, from: Data(json)).map(\.name) } catch {
            throw SourceError.invalid("cannot read `incus project list --format json`: \(error)")
        }
    }

    /// The commands that back up one instance: before the export (a temporary snapshot and
    /// a stopped copy of it when the instance is not stopped and `useSnapshot`), the export,
    /// and the clean-up after it, which runs whether the export succeeded or not.
    public struct InstancePlan: Sendable, Equatable {
        public var before: [[String]] = []
        public var export: [String]
        public var after: [[String]] = []
    }

    public static func backupPlan(_ instance: Instance, project: String?, instanceOnly: Bool, optimizedStorage: Bool,
                                  useSnapshot: Bool, temporaryName tmp: String) -> InstancePlan {
        guard useSnapshot && !instance.isStopped else {
            return InstancePlan(export: export(instance.name, project: project, instanceOnly: instanceOnly, optimizedStorage: optimizedStorage))
        }
        return InstancePlan(
            before: [snapshotCreate(instance.name, tmp, project: project),
                     copySnapshot(instance.name, tmp, to: tmp, project: project)],
            export: export(tmp, project: project, instanceOnly: instanceOnly, optimizedStorage: optimizedStorage),
            after: [delete(tmp, force: true, project: project),
                    snapshotDelete(instance.name, tmp, project: project)])
    }
}
