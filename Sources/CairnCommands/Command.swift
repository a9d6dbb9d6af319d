import CairnCore
import CairnCrypto
import CairnTree
import CairnRepository

public typealias CommandEvent = OperationEvent

/// What every command runs with besides its own options: how the caller hears of it, and
/// whether it may take locks.
public struct CommandContext: Sendable {
    public var events: EventSink
    /// Counters the caller may poll for a progress display (files, bytes, totals).
    public var progress: OperationProgress
    /// Take no lock (`--no-lock`): only for commands that do not change the repository.
    public var noLock: Bool

    public init(events: @escaping EventSink = { _ in }, progress: OperationProgress = OperationProgress(), noLock: Bool = false) {
        self.events = events; self.progress = progress; self.noLock = noLock
    }

    public func warn(_ s: String) { events(.warning(s)) }
    public func step(_ s: String) { events(.step(s)) }
}

/// The lock a command holds while it runs (format-spec §12).
public enum LockNeed: Sendable, Equatable {
    /// Listing and browsing: what they read is named by content, and a file pruned meanwhile
    /// is an error the user can retry.
    case none
    /// Readers and backups: a shared lock; `noLock` may leave it out only for readers.
    case shared(readOnly: Bool)
    /// Maintenance that deletes (forget, prune, key remove): an exclusive lock.
    case exclusive
}

/// A command that works on an open repository: its options are its stored properties, and
/// `run` returns a typed result the caller renders (`Codable`, for `--json` and the API).
public protocol RepositoryCommand: Sendable {
    associatedtype Result: Encodable & Sendable
    /// Names the operation in its lock file and in messages.
    var operation: String { get }
    var lock: LockNeed { get }
    /// The work, under the lock `lock` names (taken by `execute`).
    func run(_ repo: Repository, _ context: CommandContext) throws -> Result
}

/// Usage the library refuses whatever the front end (a flag combination that makes no sense).
public struct CommandError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

extension RepositoryCommand {
    /// Takes the lock the command needs, runs it, releases the lock.
    public func execute(_ repo: Repository, _ context: CommandContext = CommandContext()) throws -> Result {
        let lock = try Self.takeLock(lock, repo, operation: operation, noLock: context.noLock)
        defer { lock?.release() }
        return try run(repo, context)
    }

    /// The lock rule: `noLock` is refused for a command that changes the repository.
    static func takeLock(_ need: LockNeed, _ repo: Repository, operation: String, noLock: Bool) throws -> RepositoryLock? {
        switch need {
        case .none:
            return nil
        case .shared(readOnly: true):
            return noLock ? nil : try repo.acquireLock(exclusive: false, operation: operation)
        case .shared(readOnly: false), .exclusive:
            guard !noLock else {
                throw CommandError("--no-lock is only for commands that do not change the repository (\(operation) does)")
            }
            return try repo.acquireLock(exclusive: need == .exclusive, operation: operation)
        }
    }
}

extension CommandContext {
    /// Indexes the packs an interrupted backup, copy or prune stored but never indexed, so
    /// this run reuses them; says so when there were any. Returns how many.
    func adoptLeftoverPacks(_ repo: Repository, left by: String = "an interrupted backup or prune") throws -> Int {
        let adopted = try repo.indexUnindexedPacks()
        let n = adopted.fromJournal + adopted.fromHeaders
        if n > 0 { step("reusing \(n) pack(s) left by \(by)") }
        return n
    }
}

/// The KDF cost ceiling a new key file must stay under unless allowed (every open skips a
/// key above it unless `--allow-expensive-kdf`): for init, key add and key passwd.
func checkKDFCeiling(_ p: ScryptParameters, allowExpensive: Bool) throws {
    guard p.isWithinCeiling || allowExpensive else {
        throw CommandError("--kdf-n \(p.n) puts the key above the KDF cost ceiling (N·r·p ≤ 2^22): every open would skip it "
                           + "unless --allow-expensive-kdf is given; give that flag to create it anyway")
    }
}
