import CairnCore
import CairnCrypto
import FoundationEssentials
import HummingbirdBcrypt
#if canImport(Glibc)
import Glibc
#endif

/// Users and bcrypt hashes from an Apache-style htpasswd file (`NAME:$2y$…` lines; `#`
/// comments and blank lines are skipped). Only bcrypt entries are accepted: MD5-crypt
/// (`$apr1$`), SHA-1 (`{SHA}`) and crypt(3) entries are refused when the file is read.
public struct Htpasswd: Sendable, Equatable {
    public var entries: [String: String]

    public init(entries: [String: String] = [:]) { self.entries = entries }

    public struct InvalidFile: Error, CustomStringConvertible {
        public let description: String
    }

    public static func isBcrypt(_ hash: String) -> Bool {
        ["$2a$", "$2b$", "$2y$"].contains(where: hash.hasPrefix) && hash.utf8.count == 60
    }

    public init(parsing text: String, file: String) throws {
        entries = [:]
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) || line.hasPrefix("#") { continue }
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
                throw InvalidFile(description: "\(file) line \(n + 1): expected NAME:HASH")
            }
            let name = String(line[..<colon]), hash = String(line[line.index(after: colon)...])
            guard Self.isBcrypt(hash) else {
                throw InvalidFile(description: "\(file) line \(n + 1) (user \(name)): only bcrypt entries ($2y$, $2a$, $2b$) are supported; make one with `cairn serve --htpasswd \(file) --add-user \(name)` or `htpasswd -B`")
            }
            entries[name] = hash
        }
    }

    public static func load(_ file: String) throws -> Htpasswd {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw InvalidFile(description: "cannot read htpasswd file \(file)")
        }
        return try Htpasswd(parsing: String(decoding: data, as: UTF8.self), file: file)
    }

    /// Checks a password against the user's entry (slow: bcrypt).
    public func verify(user: String, password: String) -> Bool {
        guard let hash = entries[user] else { return false }
        // $2y$ (PHP, Apache) is the same algorithm as $2b$, which the bcrypt code reads.
        let normalised = hash.hasPrefix("$2y$") ? "$2b$" + hash.dropFirst(4) : hash
        return Bcrypt.verify(password, hash: normalised)
    }

    /// A new `NAME:HASH` line (bcrypt, `$2y$`, as `htpasswd -B` writes).
    public static func entry(user: String, password: String, cost: UInt8 = 10) -> String {
        let hash = Bcrypt.hash(password, cost: cost)
        return user + ":" + (hash.hasPrefix("$2b$") ? "$2y$" + hash.dropFirst(4) : hash)
    }

    /// Adds or replaces a user in the file (created mode 0600 when missing); the file is
    /// replaced atomically. Returns whether the user was already there.
    @discardableResult
    public static func setUser(_ user: String, password: String, in file: String) throws -> Bool {
        guard !user.isEmpty, !user.contains(":"), !user.contains("\n") else {
            throw InvalidFile(description: "a user name must not be empty or contain ':' or a newline")
        }
        var lines: [String] = []
        if let data = FileManager.default.contents(atPath: file) {
            _ = try Htpasswd(parsing: String(decoding: data, as: UTF8.self), file: file)   // refuse to rewrite a file we cannot read
            lines = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
        }
        let existed = lines.contains { $0.hasPrefix(user + ":") }
        lines.removeAll { $0.hasPrefix(user + ":") }
        lines.append(entry(user: user, password: password))
        let text = lines.joined(separator: "\n") + "\n"
        let tmp = file + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw InvalidFile(description: "cannot write \(tmp): \(String(cString: strerror(errno)))") }
        let bytes = Array(text.utf8)
        let ok = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) == $0.count } && fsync(fd) == 0
        close(fd)
        guard ok, rename(tmp, file) == 0 else {
            let e = errno; unlink(tmp)
            throw InvalidFile(description: "cannot write \(file): \(String(cString: strerror(e)))")
        }
        return existed
    }
}

/// Checks HTTP basic credentials against an htpasswd file, re-reading it when it changes.
/// bcrypt is slow by design, so a successful check is remembered (as a keyed hash of the
/// password, never the password) until the file changes.
final class Authenticator: Sendable {
    let file: String
    private struct State {
        var users: Htpasswd
        var stamp: [Int]
        var verified: [String: ID]
        var lastCheck: Int
    }
    private let state: Locked<State>
    private let key: [UInt8]

    init(file: String) throws {
        self.file = file
        state = Locked(State(users: try Htpasswd.load(file), stamp: Self.stamp(file), verified: [:], lastCheck: 0))
        key = SystemRandom().bytes(32)
    }

    static func stamp(_ file: String) -> [Int] {
        var st = stat()
        guard stat(file, &st) == 0 else { return [] }
        return [Int(st.st_mtim.tv_sec), Int(st.st_mtim.tv_nsec), Int(st.st_size), Int(st.st_ino)]
    }

    /// The users, re-read when the file changed (checked at most once a second); a file that
    /// no longer parses keeps the previous users and is reported once.
    private func users() -> (Htpasswd, [String: ID]) {
        let now = time(nil)
        return state.withLock { s in
            if now != s.lastCheck {
                s.lastCheck = now
                let st = Self.stamp(file)
                if st != s.stamp {
                    s.stamp = st
                    do { s.users = try Htpasswd.load(file); s.verified = [:] }
                    catch { try? writeStderr("cairn serve: keeping the previous users: \(error)\n") }
                }
            }
            return (s.users, s.verified)
        }
    }

    /// Parses `Authorization: Basic …`; the user name when the credentials are right.
    func check(_ header: String?) -> (user: String?, ok: Bool) {
        guard let header, header.lowercased().hasPrefix("basic "),
              let decoded = Data(base64Encoded: String(header.dropFirst(6).filter { $0 != " " && $0 != "\t" })) else { return (nil, false) }
        let text = String(decoding: decoded, as: UTF8.self)
        guard let colon = text.firstIndex(of: ":") else { return (nil, false) }
        let user = String(text[..<colon]), password = String(text[text.index(after: colon)...])
        let (table, verified) = users()
        let tag = HMACSHA256(key: key).mac(Array((user + "\u{0}" + password).utf8))
        if verified[user] == tag { return (user, true) }
        guard table.verify(user: user, password: password) else { return (user, false) }
        state.withLock { s in if s.users == table { s.verified[user] = tag } }
        return (user, true)
    }
}

func writeStderr(_ s: String) throws {
    let bytes = Array(s.utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
