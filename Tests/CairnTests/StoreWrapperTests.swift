import CairnCore
import CairnArchive
import CairnCheck
import CairnRepository
import CairnStorage
import CairnStores
import Foundation
import Testing

/// A store whose lock writes start failing after `allowedLockWrites`, and whose pack writes
/// wait until the operation is cancelled (at most 60 s): a backup that is still running,
/// slowly, while its lock can no longer be refreshed.
struct LockFailingStore<Inner: Backend>: BackendWrapper {
    let inner: Inner
    let allowedLockWrites: Int
    let cancellation: CancellationToken
    let lockWrites = Locked((done: 0, refused: 0))

    func write(_ type: FileType, _ name: String, _ bytes: [UInt8]) throws {
        if type == .lock {
            let refuse = lockWrites.withLock { c -> Bool in
                if c.done < allowedLockWrites { c.done += 1; return false }
                c.refused += 1
                return true
            }
            if refuse { throw StorageError.transient("injected: lock writes fail") }
        }
        if type == .pack {
            let deadline = Date().addingTimeInterval(60)
            while !cancellation.isCancelled && Date() < deadline { usleep(5_000) }
        }
        try inner.write(type, name, bytes)
    }
}

@Suite(.serialized) struct StoreWrapperTests {
    @Test func aLockThatCannotBeRefreshedCancelsTheOperationAndTheRepositoryStaysHealthy() throws {
        let tmp = TempDir()
        _ = try Fixtures.newRepository(tmp)
        Fixtures.write(tmp.sub("src/big"), Fixtures.random(3_000_000, seed: "lock-refresh"))
        let token = CancellationToken()
        // The first lock write (taking the lock) and one refresh succeed, then none.
        let store = LockFailingStore(inner: LocalBackend(path: tmp.sub("repo")), allowedLockWrites: 2, cancellation: token)
        let repo = try Repository.open(backend: store, password: Fixtures.password, cancellation: token)
        try repo.loadIndex()
        // Refresh every 0.2 s, stale at 1.5 s: the holder gives up 1.2 s after its last refresh.
        let timing = RepositoryLock.Timing(refresh: 0.2, staleAfter: 1.5, retry: 0.05)
        #expect(timing.giveUpAfter == 1.2)
        let lock = try repo.acquireLock(exclusive: false, operation: "backup", timing: timing)
        defer { lock.release() }
        let start = Date()
        var stopped: String?
        do {
            _ = try Archiver(repository: repo, options: BackupOptions()).backup(paths: [tmp.sub("src")])
        } catch RepositoryError.cancelled(let why) {
            stopped = why
        }
        let elapsed = Date().timeIntervalSince(start)
        #expect(stopped?.contains("lock could not be refreshed") == true, "\(String(describing: stopped))")
        let writes = store.lockWrites.withLock { $0 }
        #expect(writes.done == 2 && writes.refused >= 3, "\(writes)")   // refreshed once, then retried
        // Not before the give-up age (1.2 s after the one refresh at 0.2 s), and not much after.
        #expect(elapsed >= 1.3 && elapsed < 30, "\(elapsed)")
        // No snapshot, and what was stored checks out.
        let fresh = try Fixtures.reopen(tmp)
        #expect(try fresh.list(.snapshot).isEmpty)
        let report = try Checker(repository: fresh).run(readData: true)
        #expect(report.healthy, "\(report)")
    }

    @Test func aLockWhoseRefreshesSucceedIsKeptFresh() throws {
        let tmp = TempDir()
        let repo = try Fixtures.newRepository(tmp)
        let lock = try repo.acquireLock(exclusive: false, operation: "test", timing: .init(refresh: 0.05, staleAfter: 0.5, retry: 0.01))
        defer { lock.release() }
        let first = lock.lastRefresh
        let deadline = Date().addingTimeInterval(20)
        while lock.lastRefresh == first && Date() < deadline { usleep(10_000) }
        #expect(lock.lastRefresh != first)
        #expect(!repo.cancellation.isCancelled)
        #expect(try repo.list(.lock).count == 1)   // the old file was deleted
    }

    @Test func wrappersForwardWhatTheStoreUnderneathCanDo() throws {
        let tmp = TempDir()
        var t = TransferSettings()
        t.limitUploadKiB = 100_000
        t.meter = TransferMeter()
        let local = try StoreRegistry.standard.open("local:" + tmp.sub("repo"), transfer: t)
        #expect(local is any SpoolingBackend && local is any TemporaryCleaning && !(local is any MultipartBackend))
        #expect(local.location == tmp.sub("repo") && local.unwrapped is LocalBackend)
        let rest = try StoreRegistry.standard.open("rest:http://127.0.0.1:1/x/", transfer: t)
        #expect(!(rest is any SpoolingBackend) && !rest.writesAtomically)
        let s3 = try StoreRegistry.standard.open("s3:http://127.0.0.1:1/bucket/prefix", transfer: t,
                                                 environment: ["AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"])
        #expect(s3 is any MultipartBackend && s3.writesAtomically)
        // A dry run passes none of them on: nothing is built in place or uploaded in parts.
        t.dryRun = DryRunRecord()
        let dry = try StoreRegistry.standard.open(tmp.sub("repo"), transfer: t)
        #expect(!(dry is any SpoolingBackend) && !(dry is any TemporaryCleaning))
    }

    @Test func theMeterCountsEachStoresOwnBytes() throws {
        let tmp = TempDir()
        var a = TransferSettings(), b = TransferSettings()
        a.meter = TransferMeter(); b.meter = TransferMeter()
        let one = try StoreRegistry.standard.open(tmp.sub("one"), transfer: a)
        let two = try StoreRegistry.standard.open(tmp.sub("two"), transfer: b)
        try one.create(); try two.create()
        try one.write(.snapshot, String(repeating: "a", count: 64), [UInt8](repeating: 1, count: 1000))
        _ = try one.read(.snapshot, String(repeating: "a", count: 64), offset: 10, length: 100)
        try two.write(.snapshot, String(repeating: "b", count: 64), [UInt8](repeating: 2, count: 7))
        #expect(a.meter!.sent == 1000 && a.meter!.received == 100)
        #expect(b.meter!.sent == 7 && b.meter!.received == 0)
        // A pack built in place counts when it is committed.
        let spooling = try #require(one as? any SpoolingBackend)
        let spool = try spooling.createSpool(.pack)
        try [UInt8](repeating: 3, count: 4096).withUnsafeBytes { try spool.append($0) }
        try spooling.commit(spool, .pack, String(repeating: "c", count: 64))
        #expect(a.meter!.sent == 1000 + 4096)
    }

    @Test func aDryRunRecordsChangesAndMakesNone() throws {
        let tmp = TempDir()
        let real = LocalBackend(path: tmp.sub("repo"))
        try real.create()
        try real.write(.snapshot, String(repeating: "a", count: 64), [1, 2, 3])
        var t = TransferSettings()
        t.dryRun = DryRunRecord()
        let dry = try StoreRegistry.standard.open(tmp.sub("repo"), transfer: t)
        #expect(try dry.read(.snapshot, String(repeating: "a", count: 64)) == [1, 2, 3])   // reads go through
        try dry.write(.index, String(repeating: "b", count: 64), [9, 9])
        try dry.delete(.snapshot, String(repeating: "a", count: 64))
        #expect(t.dryRun!.changesAsked == [.write(.index, String(repeating: "b", count: 64), size: 2),
                                            .delete(.snapshot, String(repeating: "a", count: 64))])
        #expect(try real.list(.index).isEmpty && real.read(.snapshot, String(repeating: "a", count: 64)) == [1, 2, 3])
    }

    @Test func transientFailuresAreRetriedOnceInTheStack() throws {
        // A store failing twice, then working: retried by the wrapper the registry puts around it.
        final class Flaky: Backend, @unchecked Sendable {
            let inner: LocalBackend
            let failures = Locked(2)
            let calls = Locked(0)
            init(_ inner: LocalBackend) { self.inner = inner }
            var location: String { inner.location }
            func create() throws { try inner.create() }
            func list(_ type: FileType) throws -> [FileInfo] { try inner.list(type) }
            func stat(_ type: FileType, _ name: String) throws -> FileInfo { try inner.stat(type, name) }
            func read(_ type: FileType, _ name: String, offset: UInt64, length: Int?) throws -> [UInt8] {
                try inner.read(type, name, offset: offset, length: length)
            }
            func write(_ type: FileType, _ name: String, _ bytes: [UInt8]) throws {
                calls.withLock { $0 += 1 }
                if failures.withLock({ f in f -= 1; return f >= 0 }) { throw StorageError.transient("injected") }
                try inner.write(type, name, bytes)
            }
            func delete(_ type: FileType, _ name: String) throws { try inner.delete(type, name) }
        }
        let tmp = TempDir()
        let flaky = Flaky(LocalBackend(path: tmp.sub("repo")))
        try flaky.create()
        let registry = StoreRegistry()
        registry.register(StoreScheme(name: "flaky", usage: "flaky:") { _, _, _ in flaky })
        var t = TransferSettings()
        t.retries = 3
        try registry.open("flaky:x", transfer: t).write(.key, String(repeating: "d", count: 64), [1])
        #expect(flaky.calls.withLock { $0 } == 3)
        // A store that retries itself is not wrapped again.
        registry.register(StoreScheme(name: "self", usage: "self:", retriesItself: true) { _, _, _ in flaky })
        flaky.failures.withLock { $0 = 1 }
        #expect(throws: StorageError.self) { try registry.open("self:x", transfer: t).write(.key, String(repeating: "e", count: 64), [1]) }
    }

    @Test func aRateLimitIsKeptPerStore() throws {
        let tmp = TempDir()
        var t = TransferSettings()
        t.limitUploadKiB = 512
        let limited = try StoreRegistry.standard.open(tmp.sub("a"), transfer: t)
        let free = try StoreRegistry.standard.open(tmp.sub("b"))
        try limited.create(); try free.create()
        let mib = [UInt8](repeating: 7, count: 1 << 20)
        var start = Date()
        try limited.write(.pack, String(repeating: "a", count: 64), mib)
        try limited.write(.pack, String(repeating: "b", count: 64), mib)
        // 2 MiB at 512 KiB/s with half a second of burst: at least 3.5 s.
        #expect(Date().timeIntervalSince(start) >= 3.4)
        // Another store in the same process is not held back by the first one's limit.
        start = Date()
        try free.write(.pack, String(repeating: "a", count: 64), mib)
        #expect(Date().timeIntervalSince(start) < 3)
    }

    @Test func theUnknownSchemeMessageListsTheStores() throws {
        do {
            _ = try StoreRegistry.standard.open("foo://bar")
            Issue.record("foo:// opened")
        } catch let e as StoreLocationError {
            #expect(e.description == "unknown repository scheme \"foo:\" in foo://bar: supported are local:PATH (or a plain path), "
                + "rest:http(s)://HOST:PORT/PATH, s3:http(s)://HOST/BUCKET/PREFIX and sftp:[USER@]HOST:/PATH. "
                + "For a local folder whose name has a colon, write ./foo://bar or local:foo://bar")
        }
        #expect(try StoreRegistry.standard.open("C:/x").unwrapped is LocalBackend)
        #expect(try StoreRegistry.standard.open("local:foo:bar").location == "foo:bar")
    }
}
