import CairnCore

public typealias FileType = CairnCore.FileType

/// A stored file's name and size.
public struct FileInfo: Sendable, Equatable {
    public var name: String
    public var size: UInt64
    public init(name: String, size: UInt64) { self.name = name; self.size = size }
}

/// What went wrong in a store, sorted by what the caller can do about it.
public enum StorageError: Error, Sendable, CustomStringConvertible {
    case notFound(String)
    case permission(String)
    case transient(String)
    case quota(String)
    case io(String)
    /// The store refuses what was asked, for the reason given (a non-empty folder for init).
    case refused(String)

    public var description: String {
        switch self {
        case .notFound(let s): return "not found: \(s)"
        case .permission(let s): return "permission denied: \(s)"
        case .transient(let s): return "temporary failure: \(s)"
        case .quota(let s): return "no space left: \(s) (free some space and run the command again; nothing written so far is lost)"
        case .io(let s): return "I/O error: \(s)"
        case .refused(let s): return s
        }
    }
}

/// A store of named files, grouped by file type. It knows nothing of snapshots or packs.
///
/// Contract: `write` is atomic from a reader's point of view (a reader sees the whole file or
/// nothing) and durable when it returns; `list` never shows partial writes; `delete` of a
/// missing file is not an error.
///
/// Also (every store passes Tests/CairnTests/StoreConformance.swift, docs/stores.md):
/// files are named by their content (but `config`), so writing a name again with the same
/// bytes succeeds and leaves the file as it was; a missing file is `StorageError.notFound`
/// for `stat` and `read`; a read of a range the file does not hold in full (past the end)
/// fails with a `StorageError`, never returns fewer bytes; `create` fails where a
/// repository config already exists. Cross-cutting behaviour (retries, rate limits,
/// metering, dry run) is not a store's business: wrappers add it (BackendWrapper.swift).
public protocol Backend: Sendable {
    /// Where the store is, for messages.
    var location: String { get }
    /// Creates the store's folders; fails if a repository config already exists.
    func create() throws
    func list(_ type: FileType) throws -> [FileInfo]
    func stat(_ type: FileType, _ name: String) throws -> FileInfo
    /// Reads a whole file, or `length` bytes from `offset` (nil: to the end). A range past
    /// the end fails.
    func read(_ type: FileType, _ name: String, offset: UInt64, length: Int?) throws -> [UInt8]
    func write(_ type: FileType, _ name: String, _ bytes: [UInt8]) throws
    func delete(_ type: FileType, _ name: String) throws
    /// Whether a write cut short can never leave part of the file under its final name (a
    /// temporary name then a rename, or an upload the store shows only when complete). A REST
    /// server decides for itself (rclone serve restic 1.60 writes in place), so for such a
    /// store the writer journals each pack upload and cleans up after one that was cut short.
    var writesAtomically: Bool { get }
}

extension Backend {
    public var writesAtomically: Bool { true }
    public func read(_ type: FileType, _ name: String) throws -> [UInt8] {
        try read(type, name, offset: 0, length: nil)
    }
    public func exists(_ type: FileType, _ name: String) -> Bool {
        (try? stat(type, name)) != nil
    }
}
