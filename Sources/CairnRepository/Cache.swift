import CairnCore
import CairnCrypto
#if canImport(Glibc)
import Glibc
#endif

/// The local cache: `$XDG_CACHE_HOME/cairn/<repo-id>/cache.sqlite` (default `~/.cache`).
/// It keeps what is expensive to fetch again from a remote store — index and snapshot files
/// and tree blobs — in their stored (encrypted) form, so it holds nothing an attacker with
/// the disk could read. Every entry is verified on use (SHA-256 name, or AEAD with the blob
/// ID bound); a bad entry is dropped and fetched again. Deleting the folder loses nothing.
public final class Cache: Sendable {
    let db: Locked<SQLiteDatabase>
    public let path: String

    public static func defaultFolder() -> String? {
        func env(_ name: String) -> String? { getenv(name).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } }
        if let x = env("XDG_CACHE_HOME") { return x + "/cairn" }
        if let h = env("HOME") { return h + "/.cache/cairn" }
        return nil
    }

    public init(folder: String, repositoryID: ID) throws {
        let dir = folder + "/" + repositoryID.hex
        // Create every missing parent ($XDG_CACHE_HOME itself may not exist yet).
        var prefix = ""
        for part in dir.split(separator: "/", omittingEmptySubsequences: false) where !part.isEmpty || prefix.isEmpty {
            prefix += part.isEmpty ? "" : (prefix.isEmpty && !dir.hasPrefix("/") ? "" : "/") + part
            if prefix.isEmpty { continue }
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
                throw SQLiteDatabase.Failure(message: "cannot create cache folder \(prefix)")
            }
        }
        path = dir + "/cache.sqlite"
        let conn = try SQLiteDatabase(path: path)
        try conn.execute("""
            PRAGMA journal_mode=WAL;
            PRAGMA synchronous=NORMAL;
            CREATE TABLE IF NOT EXISTS files (type TEXT NOT NULL, name TEXT NOT NULL, bytes BLOB NOT NULL, PRIMARY KEY (type, name));
            CREATE TABLE IF NOT EXISTS blobs (id TEXT PRIMARY KEY, bytes BLOB NOT NULL);
            """)
        // A CACHEDIR.TAG keeps backup tools (ours included) out of the cache.
        let tag = folder + "/CACHEDIR.TAG"
        if access(tag, F_OK) != 0, let f = fopen(tag, "w") {
            fputs("Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by cairn.\n", f)
            fclose(f)
        }
        db = Locked(conn)
    }

    func file(_ type: FileType, _ name: ID) -> [UInt8]? {
        let b = db.withLock { try? $0.blob("SELECT bytes FROM files WHERE type=? AND name=?", [.text(type.rawValue), .text(name.hex)]) } ?? nil
        guard let b else { return nil }
        if SHA256.hash(b) == name { return b }
        dropFile(type, name)
        return nil
    }

    func putFile(_ type: FileType, _ name: ID, _ bytes: [UInt8]) {
        db.withLock { try? $0.run("INSERT OR REPLACE INTO files (type, name, bytes) VALUES (?, ?, ?)", [.text(type.rawValue), .text(name.hex), .blob(bytes)]) }
    }

    public func dropFile(_ type: FileType, _ name: ID) {
        db.withLock { try? $0.run("DELETE FROM files WHERE type=? AND name=?", [.text(type.rawValue), .text(name.hex)]) }
    }

    /// Forgets cached files of `type` the repository no longer lists.
    func retain(_ type: FileType, only names: Set<ID>) {
        db.withLock { conn in
            for n in (try? conn.texts("SELECT name FROM files WHERE type=?", [.text(type.rawValue)])) ?? [] {
                if let id = ID(hex: n), !names.contains(id) { try? conn.run("DELETE FROM files WHERE type=? AND name=?", [.text(type.rawValue), .text(n)]) }
            }
        }
    }

    func blob(_ id: ID) -> [UInt8]? {
        db.withLock { try? $0.blob("SELECT bytes FROM blobs WHERE id=?", [.text(id.hex)]) } ?? nil
    }

    func putBlob(_ id: ID, _ bytes: [UInt8]) {
        db.withLock { try? $0.run("INSERT OR REPLACE INTO blobs (id, bytes) VALUES (?, ?)", [.text(id.hex), .blob(bytes)]) }
    }

    func dropBlob(_ id: ID) {
        db.withLock { try? $0.run("DELETE FROM blobs WHERE id=?", [.text(id.hex)]) }
    }
}
