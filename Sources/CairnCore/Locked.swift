#if canImport(Glibc)
import Glibc
#endif

/// A value behind a plain (non priority-inheriting) pthread mutex.
///
/// Swift's `Synchronization.Mutex` on Linux is a PI futex: under contention each hand-off
/// goes through the kernel's rt_mutex slow path, which showed as a third of a backup's CPU
/// time. The hot locks (index lookups, the packer, progress counters) use this instead.
public final class Locked<Value>: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var value: Value

    public init(_ value: Value) {
        self.value = value
        pthread_mutex_init(&mutex, nil)
    }

    deinit { pthread_mutex_destroy(&mutex) }

    @inline(__always)
    public func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body(&value)
    }
}
