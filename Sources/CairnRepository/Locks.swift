import CairnCore
import CairnFormat
import CairnStorage
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Repository locks (`locks/<sha256>`). Backup, restore and check take a shared lock;
/// maintenance (unlock --remove-all, key remove, later prune) takes an exclusive one.
/// A lock is refreshed every 5 minutes while held (a new file is written, then the old one
/// deleted) and is stale when older than 30 minutes, or when it names this host and a
/// process that no longer exists.
///
/// A refresh that fails is tried again every 30 seconds. When the lock has gone without a
/// successful refresh for `Timing.giveUpAfter` (22.5 minutes: the stale age less one and a
/// half refresh intervals, as restic does), the operation is cancelled through the
/// repository's cancellation token: it stops with `RepositoryError.cancelled` before other
/// hosts may take its lock for stale and, say, prune what it is writing.
public final class RepositoryLock: Sendable {
    public static let staleAfterSeconds: Int64 = 30 * 60
    public static let refreshSeconds: Int64 = 5 * 60

    /// When a held lock is refreshed, and when its holder gives up. The standard values are
    /// the ones above; tests shorten them.
    public struct Timing: Sendable {
        /// Seconds between refreshes.
        public var refresh: Double
        /// The age at which a lock is stale (what other hosts go by).
        public var staleAfter: Double
        /// Seconds between attempts after a refresh failed.
        public var retry: Double

        public init(refresh: Double = Double(RepositoryLock.refreshSeconds),
                    staleAfter: Double = Double(RepositoryLock.staleAfterSeconds), retry: Double = 30) {
            self.refresh = refresh; self.staleAfter = staleAfter; self.retry = retry
        }

        public static let standard = Timing()

        /// How long the lock may go without a successful refresh before the operation is
        /// cancelled: the stale age less 1.5 refresh intervals. The margin covers clocks that
        /// differ between hosts and the time the operation takes to notice and stop.
        public var giveUpAfter: Double { max(0, staleAfter - 1.5 * refresh) }
    }

    struct State {
        var current: ID?
        /// When the lock file now in the store was written.
        var lastRefresh: Timestamp
        var lastError: String?
    }

    let repository: Repository
    let lock: Lock
    public let timing: Timing
    let state: Locked<State>

    init(repository: Repository, lock: Lock, name: ID, timing: Timing = .standard) {
        self.repository = repository; self.lock = lock; self.timing = timing
        state = Locked(State(current: name, lastRefresh: .now(), lastError: nil))
        schedule(after: timing.refresh)
    }

    /// Refreshes on a timer while the lock is held, whatever the holder is doing.
    func schedule(after seconds: Double) {
        DispatchQueue.global().asyncAfter(deadline: .now() + max(0.001, seconds)) { [weak self] in
            self?.tick()
        }
    }

    /// One timer step: refresh; after a failure, try again soon, or give up and cancel the
    /// operation once the lock is at risk of going stale.
    func tick() {
        guard state.withLock({ $0.current }) != nil else { return }
        if refresh() { schedule(after: timing.refresh); return }
        let (since, why) = state.withLock { s in
            (Double(Timestamp.now().nanoseconds - s.lastRefresh.nanoseconds) / 1e9, s.lastError ?? "")
        }
        guard since < timing.giveUpAfter else {
            repository.cancellation.cancel(reason: "the repository lock could not be refreshed for \(Self.duration(since)) (\(why)); "
                + "other hosts would soon take it for stale, so the operation stopped before that. What it stored so far is kept; run it again")
            return
        }
        schedule(after: min(timing.retry, timing.giveUpAfter - since))
    }

    static func duration(_ seconds: Double) -> String {
        seconds < 120 ? "\(Int(seconds)) s" : "\(Int(seconds / 60)) minutes"
    }

    /// Checks for staleness: too old, or a dead process on this host.
    public static func isStale(_ l: Lock, now: Timestamp = .now()) -> Bool {
        if now.nanoseconds - l.timestamp.nanoseconds > staleAfterSeconds * 1_000_000_000 { return true }
        if l.hostname == Host.name, l.pid > 0, kill(l.pid, 0) != 0, errno == ESRCH { return true }
        return false
    }

    /// Refreshes the lock file when it is due (the timer does this too).
    public func refreshIfDue() {
        let since = state.withLock { Double(Timestamp.now().nanoseconds - $0.lastRefresh.nanoseconds) / 1e9 }
        guard since >= timing.refresh - min(10, timing.refresh / 10) else { return }
        refresh()
    }

    /// Writes a new lock file with the time now, then deletes the old one. False when the
    /// write failed (the old file stays). Under the state's lock, so a release waits for a
    /// refresh in flight and never leaves its new file behind.
    @discardableResult
    func refresh() -> Bool {
        state.withLock { s in
            guard let old = s.current else { return true }
            var l = lock
            l.time = Timestamp.now().rfc3339
            do {
                let name = try repository.saveFile(.lock, try l.encoded(), compress: false)
                s.current = name
                s.lastRefresh = .now()
                s.lastError = nil
                try? repository.backend.delete(.lock, old.hex)
                return true
            } catch {
                s.lastError = "\(error)"
                return false
            }
        }
    }

    /// When the lock file now in the store was written.
    public var lastRefresh: Timestamp { state.withLock { $0.lastRefresh } }

    public func release() {
        if let name = state.withLock({ s -> ID? in let n = s.current; s.current = nil; return n }) {
            try? repository.backend.delete(.lock, name.hex)
        }
    }

    deinit { release() }
}

extension Repository {
    /// Every lock file, readable or not.
    public func locks() throws -> [(ID, Lock?)] {
        try list(.lock).map { id in (id, try? Lock.decode(try loadFile(.lock, id))) }
    }

    /// Takes a lock, failing with `RepositoryError.locked` when a conflicting live lock exists.
    /// `timing`: when it is refreshed and when a holder that cannot refresh it gives up.
    public func acquireLock(exclusive: Bool, operation: String, timing: RepositoryLock.Timing = .standard) throws -> RepositoryLock {
        func conflict(ignoring mine: ID?) throws -> String? {
            for (id, l) in try locks() where id != mine {
                guard let l else { continue }   // unreadable lock: another key? ignore, as check reports it
                if Self.isStaleLock(l) { continue }
                if exclusive || l.exclusive {
                    return "\(l.exclusive ? "exclusive" : "shared") lock \(id.short) held by \(l.username)@\(l.hostname) pid \(l.pid) for \(l.operation) since \(l.timestamp.localDisplay)"
                }
            }
            return nil
        }
        if let c = try conflict(ignoring: nil) { throw RepositoryError.locked(c) }
        let l = Lock(time: .now(), exclusive: exclusive, hostname: Host.name, username: Host.user, pid: getpid(), operation: operation)
        let name: ID
        do { name = try saveFile(.lock, try l.encoded(), compress: false) }
        catch let e as StorageError {
            switch e {
            case .permission, .io: throw RepositoryError.cannotLock("\(e)")
            default: throw e
            }
        }
        let handle = RepositoryLock(repository: self, lock: l, name: name, timing: timing)
        // Someone may have written a conflicting lock between our check and our write.
        if let c = try conflict(ignoring: name) {
            handle.release()
            throw RepositoryError.locked(c)
        }
        return handle
    }

    static func isStaleLock(_ l: Lock) -> Bool { RepositoryLock.isStale(l) }

    /// Removes stale locks (or all with `all`). Returns how many were removed.
    public func removeLocks(all: Bool) throws -> Int {
        var n = 0
        for (id, l) in try locks() {
            if all || l == nil || RepositoryLock.isStale(l!) { try backend.delete(.lock, id.hex); n += 1 }
        }
        return n
    }
}
