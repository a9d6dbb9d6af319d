import CairnCore

/// Errors the repository layer raises, each with advice for the user. The CLI maps them to
/// exit codes in one place.
public enum RepositoryError: Error, Sendable, CustomStringConvertible {
    case noRepository(String)
    case alreadyExists(String)
    case wrongPassword
    case locked(String)
    case blobNotFound(BlobType, ID)
    case fileNotFound(String)
    case ambiguous(String)
    case damaged(String)
    case interrupted
    case invalidArgument(String)
    /// A snapshot file that cannot be read where snapshots are chosen (latest, filters, forget).
    case unreadableSnapshot(ID, String)

    public var description: String {
        switch self {
        case .noRepository(let l): return "no repository at \(l): run `cairn init -r \(l)` to create one, or check the path"
        case .alreadyExists(let l): return "a repository already exists at \(l)"
        case .wrongPassword: return "wrong password or no key found: no key file in the repository opens with this password"
        case .locked(let s): return "repository is locked: \(s). If that process is gone, run `cairn unlock` (locks go stale after 30 minutes)"
        case .blobNotFound(let t, let id): return "\(t) blob \(id.short) is not in the index (run `cairn check`)"
        case .fileNotFound(let s): return "not found: \(s)"
        case .ambiguous(let s): return "ambiguous: \(s)"
        case .damaged(let s): return "damaged: \(s)"
        case .interrupted: return "interrupted"
        case .invalidArgument(let s): return s
        case .unreadableSnapshot(let id, let why):
            return "snapshot \(id.hex) cannot be read (\(why)); it may be the one asked for, so none was chosen: "
                + "name a snapshot by ID, pass --skip-unreadable to leave unreadable snapshots out, "
                + "or run `cairn check` and `cairn repair snapshots --remove-unreadable`"
        }
    }
}
