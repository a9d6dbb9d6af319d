#if canImport(Glibc)
import Glibc
#endif

/// Docker volumes have no export command. Cairn reads a volume either through its mountpoint
/// (`docker volume inspect` → Mountpoint, read with `tar` when this process can read it: a
/// `local` volume on this host, run as root) or through a throwaway helper container that
/// mounts it (`docker run --rm -v NAME:/v:ro IMAGE tar -C /v -cf - .`). `auto` tries the
/// mountpoint first (no image, no container), then the helper container.
public enum DockerVolume {
    public enum Access: String, CaseIterable, Sendable { case auto, mountpoint, container }

    public static func inspect(_ name: String) -> [String] { ["docker", "volume", "inspect", name] }
    public static func remove(_ name: String) -> [String] { ["docker", "volume", "rm", name] }
    public static func create(_ name: String, like v: VolumeInfo? = nil) -> [String] {
        ["docker", "volume", "create"] + (v?.createFlags ?? []) + [name]
    }
    /// The volume's files as a tar, read at its mountpoint.
    public static func exportMountpoint(_ path: String) -> [String] { ["tar", "--numeric-owner", "-C", path, "-cf", "-", "."] }
    /// A tar from standard input extracted into the volume's mountpoint (owners and modes kept).
    public static func importMountpoint(_ path: String) -> [String] { ["tar", "--numeric-owner", "-C", path, "-xpf", "-"] }
    /// The volume's files as a tar, read by a helper container that mounts it read-only.
    public static func exportContainer(_ name: String, image: String) -> [String] {
        ["docker", "run", "--rm", "--network", "none", "-v", name + ":/v:ro", image, "tar", "-C", "/v", "-cf", "-", "."]
    }
    /// A tar from standard input extracted into the volume by a helper container.
    public static func importContainer(_ name: String, image: String) -> [String] {
        ["docker", "run", "--rm", "-i", "--network", "none", "-v", name + ":/v", image, "tar", "-C", "/v", "-xpf", "-"]
    }

    /// The volume's mountpoint when this process can use it directly: a `local` volume whose
    /// folder exists here and which we may read (and, to restore, write).
    public static func usableMountpoint(_ v: VolumeInfo, forWriting: Bool) -> String? {
        guard (v.Driver ?? "local") == "local", let m = v.Mountpoint, !m.isEmpty else { return nil }
        var st = stat()
        guard stat(m, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { return nil }
        return access(m, R_OK | X_OK | (forWriting ? W_OK : 0)) == 0 ? m : nil
    }
}
