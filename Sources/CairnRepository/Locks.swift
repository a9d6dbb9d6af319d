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
public final class RepositoryLock: Sendable {
    public static let staleAfterSeconds: Int64 = 30 * 60
    public static let refreshSeconds: Int64 = 5 * 60

    let repository: Repository
    let lock: Lock
    let current: Locked<ID?>
    let stop = Locked(false)

    init(repository: Repository, lock: Lock, name: ID) {
        self.repository = repository; self.lock = lock; current = Locked(name)
        scheduleRefresh()
    }

    /// Refreshes on a timer while the lock is held, whatever the holder is doing.
    func scheduleRefresh() {
        DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(Int(Self.refreshSeconds))) { [weak self] in
            guard let self, self.current.withLock({ $0 }) != nil else { return }
            self.refreshIfDue()
            self.scheduleRefresh()
        }
    }

    /// Checks for staleness: too old, or a dead process on this host.
    public static func isStale(_ l: Lock, now: Timestamp = .now()) -> Bool {
        if now.nanoseconds - l.timestamp.nanoseconds > staleAfterSeconds * 1_000_000_000 { return true }
        if l.hostname == Host.name, l.pid > 0, kill(l.pid, 0) != 0, errno == ESRCH { return true }
        return false
    }

    /// Refreshes the lock file when it is due; the archiver calls this as it goes.
    public func refreshIfDue() {
        guard let old = current.withLock({ $0 }) else { return }
        guard Timestamp.now().nanoseconds - lastRefresh.withLock({ $0 }).nanoseconds >= (Self.refreshSeconds - 10) * 1_000_000_000 else { return }
        var l = lock
        l.time = Timestamp.now().rfc3339
        if let bytes = try? l.encoded(), let name = try? repository.saveFile(.lock, bytes, compress: false) {
            current.withLock { $0 = name }
            lastRefresh.withLock { $0 = .now() }
            try? repository.backend.delete(.lock, old.hex)
        }
    }
    let lastRefresh = Locked(Timestamp.now())

    public func release() {
        if let name = current.withLock({ c -> ID? in let n = c; c = nil; return n }) {
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
    public func acquireLock(exclusive: Bool, operation: String) throws -> RepositoryLock {
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
        let handle = RepositoryLock(repository: self, lock: l, name: name)
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
