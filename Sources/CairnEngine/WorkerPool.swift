import Dispatch
import Synchronization

/// A bounded pool: `submit` blocks once `limit` jobs are queued or running, so memory stays
/// bounded however fast the producer is. The first error a job throws is kept and rethrown
/// by `wait`; later jobs still run (the repository stays consistent either way).
final class WorkerPool: Sendable {
    private let queue = DispatchQueue(label: "cairn.workers", attributes: .concurrent)
    private let slots: DispatchSemaphore
    private let group = DispatchGroup()
    private let firstError = Mutex<(any Error)?>(nil)

    init(limit: Int) { slots = DispatchSemaphore(value: limit) }

    func submit(_ job: @escaping @Sendable () throws -> Void) throws {
        if let e = firstError.withLock({ $0 }) { throw e }
        slots.wait()
        group.enter()
        queue.async { [self] in
            defer { slots.signal(); group.leave() }
            do { try job() } catch { firstError.withLock { if $0 == nil { $0 = error } } }
        }
    }

    /// Rethrows the first error a job threw, without waiting.
    func check() throws {
        if let e = firstError.withLock({ $0 }) { throw e }
    }

    func wait() throws {
        group.wait()
        if let e = firstError.withLock({ $0 }) { throw e }
    }
}
