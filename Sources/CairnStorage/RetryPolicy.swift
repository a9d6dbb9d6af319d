import CairnCore
#if canImport(Glibc)
import Glibc
#endif

/// Retries transient store failures with exponential backoff and full jitter; everything
/// else (authentication, quota, not found, bad requests) fails at once, so a wrong password
/// never becomes a retry storm.
public struct RetryPolicy: Sendable {
    public var attempts: Int
    public var baseDelayMs: Int
    public var maxDelayMs: Int

    /// The default: 10 attempts, waits capped at 0.25, 0.5, 1, 2, 4, 8, 16, 20, 20 s — a store
    /// may be away for about a minute before the operation fails (and the next run resumes).
    public init(attempts: Int = 10, baseDelayMs: Int = 250, maxDelayMs: Int = 20_000) {
        self.attempts = attempts; self.baseDelayMs = baseDelayMs; self.maxDelayMs = maxDelayMs
    }

    public static let none = RetryPolicy(attempts: 1)

    public func run<T>(_ body: () throws -> T) throws -> T {
        var attempt = 1
        while true {
            do { return try body() } catch StorageError.transient where attempt < attempts {
                let cap = min(maxDelayMs, baseDelayMs << min(attempt - 1, 16))
                usleep(useconds_t(Int.random(in: 0...cap) * 1000))
                attempt += 1
            }
        }
    }
}
