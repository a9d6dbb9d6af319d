import CairnCore

/// Errors the repository layer raises, each with advice for the user. The CLI maps them to
/// exit codes in one place.
public enum RepositoryError: Error, Sendable, CustomStringConvertible {
    case noRepository(String)
    case alreadyExists(String)
    case wrongPassword
    /// No key opened, and this many key files were skipped for their KDF cost.
    case wrongPasswordSkipped(Int)
    case locked(String)
    /// The lock file could not be written (read-only storage, permissions).
    case cannotLock(String)
    case blobNotFound(BlobType, ID)
    case fileNotFound(String)
    case ambiguous(String)
    case damaged(String)
    case interrupted
    /// The operation was stopped for the reason given (its lock could not be kept fresh).
    case cancelled(String)
    case invalidArgument(String)
    /// A snapshot file that cannot be read where snapshots are chosen (latest, filters, forget).
    case unreadableSnapshot(ID, String)

    public var description: String {
        switch self {
        case .noRepository(let l): return "no repository at \(l): run `cairn init -r \(l)` to create one, or check the path"
        case .wrongPasswordSkipped(let n): return "wrong password or no key found: no key file tried opens with this password; \(n) key file(s) above the KDF cost ceiling were skipped (run with --allow-expensive-kdf to try them)"
        case .alreadyExists(let l): return "a repository already exists at \(l)"
        case .wrongPassword: return "wrong password or no key found: no key file in the repository opens with this password"
        case .locked(let s): return "repository is locked: \(s). If that process is gone, run `cairn unlock` (locks go stale after 30 minutes)"
        case .cannotLock(let s): return "cannot write a lock file to the repository: \(s). If the repository is on read-only storage, commands that only read it (snapshots, ls, find, diff, dump, stats, cat, restore, check, mount) work with --no-lock"
        case .blobNotFound(let t, let id): return "\(t) blob \(id.short) is not in the index (run `cairn check`)"
        case .fileNotFound(let s): return "not found: \(s)"
        case .ambiguous(let s): return "ambiguous: \(s)"
        case .damaged(let s): return "damaged: \(s)"
        case .interrupted: return "interrupted"
        case .cancelled(let why): return "stopped: \(why)"
        case .invalidArgument(let s): return s
        case .unreadableSnapshot(let id, let why):
            return "snapshot \(id.hex) cannot be read (\(why)); it may be the one asked for, so none was chosen: "
                + "name a snapshot by ID, pass --skip-unreadable to leave unreadable snapshots out, "
                + "or run `cairn check` and `cairn repair snapshots --remove-unreadable`"
        }
    }
}
