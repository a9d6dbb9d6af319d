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

func writeStderr(_ s: String) throws {
    let bytes = Array(s.utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
