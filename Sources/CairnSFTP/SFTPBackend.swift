import CairnCore
import CairnStorage
#if canImport(Glibc)
import Glibc
#endif

/// A repository on a host reachable over SSH: `sftp:[USER@]HOST[:PORT]:/PATH` or
/// `sftp://[USER@]HOST[:PORT]/PATH`. Runs the system `ssh` (so `~/.ssh/config`, keys and
/// agents apply) with `-s sftp`; `CAIRN_SFTP_COMMAND` replaces that command line whole
/// (split on spaces, e.g. `ssh -p 2222 -i key me@host -s sftp`).
///
/// Layout as on a local disk (`data/xx/<name>`); a write goes to `<folder>/.tmp-<name>-<random>`,
/// is fsynced (fsync@openssh.com) and renamed over the final name (posix-rename@openssh.com),
/// so readers never see a partial file.
public final class SFTPBackend: Backend, @unchecked Sendable {   // the connection is used under `lock`
    public let location: String
    let root: String
    let argv: [String]
    let lock = Locked<SFTPConnection?>(nil)

    let retry: RetryPolicy

    public init(location spec: String, command: String? = nil, retry: RetryPolicy = RetryPolicy()) throws {
        let parsed = try Self.parse(spec)
        self.retry = retry
        location = "sftp:" + spec
        root = parsed.path
        if let command, !command.isEmpty {
            argv = command.split(separator: " ").map(String.init)
        } else {
            argv = ["ssh"] + (parsed.port.map { ["-p", String($0)] } ?? []) + [parsed.userHost, "-s", "sftp"]
        }
    }

    /// (user@host, port, path) from either spelling.
    static func parse(_ spec: String) throws -> (userHost: String, port: Int?, path: String) {
        if spec.hasPrefix("//") {
            let rest = spec.dropFirst(2)
            guard let slash = rest.firstIndex(of: "/") else { throw StorageError.io("sftp://HOST/PATH needs a path") }
            var authority = String(rest[..<slash])
            var port: Int?
            if let colon = authority.lastIndex(of: ":"), let p = Int(authority[authority.index(after: colon)...]) {
                port = p; authority = String(authority[..<colon])
            }
            return (authority, port, String(rest[slash...]))
        }
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        switch parts.count {
        case 2 where !parts[0].isEmpty && !parts[1].isEmpty: return (parts[0], nil, parts[1])
        case 3 where Int(parts[1]) != nil && !parts[2].isEmpty: return (parts[0], Int(parts[1]), parts[2])
        default: throw StorageError.io("give sftp:[USER@]HOST[:PORT]:/PATH or sftp://[USER@]HOST[:PORT]/PATH, not sftp:\(spec)")
        }
    }

    /// Runs `body` on the connection, starting ssh on first use and again after a lost
    /// connection: a transient failure is retried on a fresh ssh, with the retry policy's
    /// backoff.
    func withConnection<T>(_ what: String, _ body: (SFTPConnection) throws -> T) throws -> T {
        try lock.withLock { conn in
            do {
                return try retry.run {
                    do {
                        if conn == nil { conn = try SFTPConnection(argv: argv) }
                        return try body(conn!)
                    } catch let s as SFTPConnection.Status {
                        throw Self.error(s, what)
                    } catch StorageError.transient(let m) {
                        conn = nil
                        throw StorageError.transient("\(what) at \(location): \(m)")
                    }
                }
            }
        }
    }

    static func error(_ s: SFTPConnection.Status, _ what: String) -> StorageError {
        let m = "\(what): \(s.message.isEmpty ? "status \(s.code)" : s.message)"
        switch s.code {
        case SFTPConnection.noSuchFile: return .notFound(m)
        case SFTPConnection.permissionDenied: return .permission(m)
        case 6, 7: return .transient(m)
        default: return .io(m)
        }
    }

    func folder(_ type: FileType) -> String { type == .config ? root : root + "/" + type.folder }

    func path(_ type: FileType, _ name: String) -> String {
        switch type {
        case .config: return root + "/config"
        case .pack: return root + "/data/" + name.prefix(2) + "/" + name
        default: return folder(type) + "/" + name
        }
    }

    public func create() throws {
        if exists(.config, "config") { throw StorageError.io("a repository already exists at \(location)") }
        try withConnection("create") { c in
            var dirs = [root] + FileType.allCases.filter { $0 != .config }.map { folder($0) }
            for i in 0..<256 { dirs.append(root + "/data/" + (i < 16 ? "0" : "") + String(i, radix: 16)) }
            for d in dirs {
                do { try c.expectOK(.mkdir) { $0.string(d); $0.u32(0) } } catch let s as SFTPConnection.Status {
                    // Already there is fine; anything else shows on the next step.
                    if (try? c.statSize(d)) == nil { throw s }
                }
            }
        }
    }

    public func list(_ type: FileType) throws -> [FileInfo] {
        if type == .config { return (try? stat(.config, "config")).map { [$0] } ?? [] }
        return try withConnection("list \(type.folder)") { c in
            func files(_ dir: String) throws -> [FileInfo] {
                do {
                    return try c.readdir(dir).filter { !$0.isDirectory && !$0.name.hasPrefix(Self.tempPrefix) }.map { FileInfo(name: $0.name, size: $0.size) }
                } catch let s as SFTPConnection.Status where s.code == SFTPConnection.noSuchFile { return [] }
            }
            guard type == .pack else { return try files(folder(type)) }
            var out: [FileInfo] = []
            let subs: [SFTPConnection.Entry]
            do { subs = try c.readdir(root + "/data") } catch let s as SFTPConnection.Status where s.code == SFTPConnection.noSuchFile { return [] }
            for e in subs where e.isDirectory && e.name.count == 2 { out += try files(root + "/data/" + e.name) }
            return out
        }
    }

    public func stat(_ type: FileType, _ name: String) throws -> FileInfo {
        try withConnection("stat \(type.folder)/\(name)") { c in
            guard let size = try c.statSize(path(type, name)) else { throw StorageError.io("sftp: no size for \(name)") }
            return FileInfo(name: name, size: size)
        }
    }

    public func read(_ type: FileType, _ name: String, offset: UInt64, length: Int?) throws -> [UInt8] {
        let bytes = try withConnection("read \(type.folder)/\(name)") { c in
            let got = try c.read(path(type, name), offset: offset, length: length)
            if let length, got.count != length {
                throw StorageError.io("read \(type.folder)/\(name) at \(location): \(got.count) of \(length) bytes")
            }
            return got
        }
        return bytes
    }

    public func write(_ type: FileType, _ name: String, _ bytes: [UInt8]) throws {
        let final = path(type, name)
        let dir = String(final[..<final.lastIndex(of: "/")!])
        let tmp = dir + "/" + Self.tempPrefix + name + "-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        try withConnection("write \(type.folder)/\(name)") { c in
            do { try c.create(tmp, bytes) } catch let s as SFTPConnection.Status where s.code == SFTPConnection.noSuchFile {
                try? c.expectOK(.mkdir) { $0.string(dir); $0.u32(0) }   // the folder was deleted: make it again
                try c.create(tmp, bytes)
            }
            do { try c.rename(tmp, final) } catch {
                try? c.expectOK(.remove) { $0.string(tmp) }
                throw error
            }
        }
    }

    public func delete(_ type: FileType, _ name: String) throws {
        try withConnection("delete \(type.folder)/\(name)") { c in
            do { try c.expectOK(.remove) { $0.string(path(type, name)) } }
            catch let s as SFTPConnection.Status where s.code == SFTPConnection.noSuchFile {}
        }
    }
}

extension SFTPBackend: TemporaryCleaning {
    static let tempPrefix = LocalBackend.tempPrefix

    /// Deletes temporary files a killed write left (never listed), once their mtime on the
    /// server is more than `seconds` old by this machine's clock.
    public func removeStaleTemporaries(olderThan seconds: Int) -> Int {
        let now = Int64(time(nil))
        let dirs = FileType.allCases.filter { $0 != .config && $0 != .pack }.map { folder($0) } + [root]
            + (0..<256).map { root + "/data/" + ($0 < 16 ? "0" : "") + String($0, radix: 16) }
        return (try? withConnection("remove temporary files") { c in
            var removed = 0
            for dir in dirs {
                guard let entries = try? c.readdir(dir) else { continue }
                for e in entries where !e.isDirectory && e.name.hasPrefix(Self.tempPrefix) {
                    guard let m = e.mtime, now - Int64(m) > Int64(seconds) else { continue }
                    if (try? c.expectOK(.remove) { $0.string(dir + "/" + e.name) }) != nil { removed += 1 }
                }
            }
            return removed
        }) ?? 0
    }
}
