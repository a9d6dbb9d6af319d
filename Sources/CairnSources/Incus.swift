import FoundationEssentials

/// Incus instances, custom volumes and server configuration, through the `incus` client.
/// Every command Cairn runs is built here (README "Sources" lists them).
public enum Incus {
    /// `--project P` when a project was given (the client's current project otherwise).
    static func project(_ p: String?) -> [String] { p.map { ["--project", $0] } ?? [] }

    /// Every instance of the project, as JSON (name, status, type, ...).
    public static func list(project: String?) -> [String] { ["incus", "list", "--format", "json"] + Self.project(project) }

    /// The instance as a backup tarball on standard output, uncompressed.
    public static func export(_ instance: String, project: String?, instanceOnly: Bool, optimizedStorage: Bool) -> [String] {
        ["incus", "export", instance, "-", "--compression", "none"]
            + (instanceOnly ? ["--instance-only"] : []) + (optimizedStorage ? ["--optimized-storage"] : []) + Self.project(project)
    }

    public static func snapshotCreate(_ instance: String, _ snapshot: String, project: String?) -> [String] {
        ["incus", "snapshot", "create", instance, snapshot] + Self.project(project)
    }

    public static func snapshotDelete(_ instance: String, _ snapshot: String, project: String?) -> [String] {
        ["incus", "snapshot", "delete", instance, snapshot] + Self.project(project)
    }

    /// A new stopped instance made from a snapshot (`incus export` takes instances, not snapshots).
    public static func copySnapshot(_ instance: String, _ snapshot: String, to copy: String, project: String?) -> [String] {
        ["incus", "copy", instance + "/" + snapshot, copy, "--instance-only"] + Self.project(project)
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
    public static func volumeExport(pool: String, volume: String, project: String?, volumeOnly: Bool, optimizedStorage: Bool) -> [String] {
        ["incus", "storage", "volume", "export", pool, volume, "-", "--compression", "none"]
            + (volumeOnly ? ["--volume-only"] : []) + (optimizedStorage ? ["--optimized-storage"] : []) + Self.project(project)
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
