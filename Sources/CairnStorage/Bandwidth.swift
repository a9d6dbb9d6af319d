import CairnCore
#if canImport(Glibc)
import Glibc
#endif

/// A process-wide transfer meter and limit for one direction (`--limit-upload`,
/// `--limit-download`, in KiB/s). Every store reports the bytes it sends or receives; with
/// a limit set, `transfer` sleeps so the average rate stays at the limit, allowing a burst of
/// half a second. The totals feed the progress line.
public final class Bandwidth: Sendable {
    public static let upload = Bandwidth()
    public static let download = Bandwidth()

    struct State { var bytesPerSecond: Int? = nil; var nextFree: Int64 = 0; var total: UInt64 = 0 }
    let state = Locked(State())

    public init() {}

    /// nil or 0: unlimited.
    public func setLimit(kibPerSecond: Int?) {
        state.withLock { $0.bytesPerSecond = kibPerSecond.flatMap { $0 > 0 ? $0 * 1024 : nil } }
    }

    /// Bytes moved so far in this direction.
    public var total: UInt64 { state.withLock { $0.total } }

    /// Counts `n` bytes and, with a limit, waits until they fit under it.
    public func transfer(_ n: Int) {
        guard n > 0 else { return }
        let wait: Int64 = state.withLock { s in
            s.total += UInt64(n)
            guard let rate = s.bytesPerSecond else { return 0 }
            let now = Timestamp.now().nanoseconds
            let cost = Int64(Double(n) * 1e9 / Double(rate))
            s.nextFree = max(s.nextFree, now - 500_000_000) + cost
            return s.nextFree - now
        }
        guard wait > 0 else { return }
        var ts = timespec(tv_sec: Int(wait / 1_000_000_000), tv_nsec: Int(wait % 1_000_000_000))
        var left = timespec()
        while nanosleep(&ts, &left) != 0 && errno == EINTR { ts = left }
    }
}
