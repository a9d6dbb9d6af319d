import FoundationEssentials

/// Podman volumes: `podman volume export NAME` writes the volume's files as an uncompressed
/// tar on standard output; `podman volume import NAME -` extracts a tar from standard input
/// into an existing volume (over what it holds).
public enum PodmanVolume {
    public static func export(_ name: String) -> [String] { ["podman", "volume", "export", name] }
    public static func importing(_ name: String) -> [String] { ["podman", "volume", "import", name, "-"] }
    /// Exits 0 when the volume exists, 1 when not.
    public static func exists(_ name: String) -> [String] { ["podman", "volume", "exists", name] }
    public static func inspect(_ name: String) -> [String] { ["podman", "volume", "inspect", name] }
    /// Refuses (non-zero) a volume a container uses: a restore never removes containers.
    public static func remove(_ name: String) -> [String] { ["podman", "volume", "rm", name] }
    /// Creates the volume again as it was: same driver, labels and driver options.
    public static func create(_ name: String, like v: VolumeInfo? = nil) -> [String] {
        ["podman", "volume", "create"] + (v?.createFlags ?? []) + [name]
    }
}

/// What `podman volume inspect` / `docker volume inspect` say about a volume (a JSON array
/// of one object; both tools use these member names).
public struct VolumeInfo: Decodable, Sendable, Equatable {
    public var Name: String
    public var Driver: String?
    public var Mountpoint: String?
    public var Labels: [String: String]?
    public var Options: [String: String]?

    public init(Name: String, Driver: String? = nil, Mountpoint: String? = nil, Labels: [String: String]? = nil, Options: [String: String]? = nil) {
        self.Name = Name; self.Driver = Driver; self.Mountpoint = Mountpoint; self.Labels = Labels; self.Options = Options
    }

    public static func parse(_ json: [UInt8]) throws -> VolumeInfo {
        guard let v = try JSONDecoder().decode([VolumeInfo].self, from: Data(json)).first else {
            throw SourceError.invalid("volume inspect printed no volume")
        }
        return v
    }

    /// `volume create` flags that make a volume like this one.
    public var createFlags: [String] {
        var f: [String] = []
        if let d = Driver, !d.isEmpty, d != "local" { f += ["--driver", d] }
        for (k, v) in (Labels ?? [:]).sorted(by: { $0.key < $1.key }) { f += ["--label", k + "=" + v] }
        for (k, v) in (Options ?? [:]).sorted(by: { $0.key < $1.key }) { f += ["--opt", k + "=" + v] }
        return f
    }
}
