import CairnCore
#if canImport(Glibc)
import Glibc
#endif

/// Which key file opened a repository last, remembered in the local cache folder
/// (`<folder>/last-key/<hex SHA-256 of the stored config>`, format-spec §15) so the next open
/// tries it first. Only an ordering hint: a missing or wrong entry costs time, nothing else.
public struct LastKey: Sendable {
    public let folder: String
    public init(cacheFolder: String) { folder = cacheFolder + "/last-key" }

    func path(_ configDigest: ID) -> String { folder + "/" + configDigest.hex }

    /// The remembered key file name, when it looks like one.
    public func name(for configDigest: ID) -> String? {
        guard let f = fopen(path(configDigest), "r") else { return nil }
        defer { fclose(f) }
        var buf = [CChar](repeating: 0, count: 80)
        guard fgets(&buf, 80, f) != nil else { return nil }
        let line = String(decoding: buf.prefix { $0 != 0 && $0 != 10 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return ID(hex: line)?.hex == line ? line : nil
    }

    /// Records `keyName` (written to a temporary file and renamed over the old entry).
    public func remember(_ keyName: String, for configDigest: ID) {
        guard name(for: configDigest) != keyName else { return }
        var prefix = ""
        for part in folder.split(separator: "/") {
            prefix += (prefix.isEmpty && !folder.hasPrefix("/") ? "" : "/") + part
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST { return }
        }
        let target = path(configDigest)
        let temp = target + ".tmp-\(getpid())"
        guard let f = fopen(temp, "w") else { return }
        let ok = fputs(keyName + "\n", f) >= 0
        fflush(f); fsync(fileno(f)); fclose(f)
        if !ok || rename(temp, target) != 0 { unlink(temp) }
    }
}
