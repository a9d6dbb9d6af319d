import CairnCore
#if canImport(Glibc)
import Glibc
#endif

/// A rate limit for one direction, in bytes per second: `take` sleeps so the average rate
/// stays at the limit, allowing a burst of half a second. One per direction per store
/// (`--limit-upload`, `--limit-download` in KiB/s): two repositories open in one process
/// (copy) each keep to their own.
public final class RateLimiter: Sendable {
    public let bytesPerSecond: Int
    let nextFree = Locked<Int64>(0)

    /// nil for 0 or less: no limit.
    public init?(kibPerSecond: Int?) {
        guard let k = kibPerSecond, k > 0 else { return nil }
        bytesPerSecond = k * 1024
    }

    public init(bytesPerSecond: Int) { self.bytesPerSecond = max(1, bytesPerSecond) }

    /// Accounts for `n` bytes and waits until they fit under the limit.
    public func take(_ n: Int) {
        guard n > 0 else { return }
        let wait: Int64 = nextFree.withLock { next in
            let now = Timestamp.now().nanoseconds
            let cost = Int64(Double(n) * 1e9 / Double(bytesPerSecond))
            next = max(next, now - 500_000_000) + cost
            return next - now
        }
        guard wait > 0 else { return }
        var ts = timespec(tv_sec: Int(wait / 1_000_000_000), tv_nsec: Int(wait % 1_000_000_000))
        var left = timespec()
        while nanosleep(&ts, &left) != 0 && errno == EINTR { ts = left }
    }
}

/// Keeps a store's transfers under its limits: a write (or a spool's commit) waits before
/// it is sent, a read after it arrived. Listings and stats are not limited (they are small).
/// Below the retry wrapper, so a re-sent pack counts against the limit again.
public struct RateLimitedBackend<Inner: Backend>: BackendWrapper {
    public let inner: Inner
    public let upload: RateLimiter?
    public let download: RateLimiter?

    public init(_ inner: Inner, upload: RateLimiter?, download: RateLimiter?) {
        self.inner = inner; self.upload = upload; self.download = download
    }

    public func read(_ type: FileType, _ name: String, offset: UInt64, length: Int?) throws -> [UInt8] {
        let bytes = try inner.read(type, name, offset: offset, length: length)
        download?.take(bytes.count)
        return bytes
    }

    public func write(_ type: FileType, _ name: String, _ bytes: [UInt8]) throws {
        upload?.take(bytes.count)
        try inner.write(type, name, bytes)
    }
}

extension RateLimitedBackend: SpoolingBackend where Inner: SpoolingBackend {
    public func commit(_ spool: SpoolFile, _ type: FileType, _ name: String) throws {
        upload?.take(Int(spool.size))
        try inner.commit(spool, type, name)
    }
}
extension RateLimitedBackend: MultipartBackend where Inner: MultipartBackend {}
extension RateLimitedBackend: TemporaryCleaning where Inner: TemporaryCleaning {}
