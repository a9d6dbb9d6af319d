#if canImport(Glibc)
import Glibc
#endif

/// A fixed set of threads running jobs from a bounded queue. `submit` blocks once `limit`
/// jobs are queued or running, so memory stays bounded however fast the producer is. The
/// first error a job throws is kept and rethrown by `submit`, `check` and `wait`.
///
/// Own threads rather than Dispatch: jobs here block (on I/O, on another pool, on their own
/// sub-jobs), and Dispatch on Linux adds threads for blocked workers only slowly, which left
/// a two-pool pipeline running on one core.
public final class WorkerPool: @unchecked Sendable {   // all state under `mutex`
    public typealias Job = @Sendable () throws -> Void
    private var mutex = pthread_mutex_t()
    private var changed = pthread_cond_t()
    private var queue: [Job] = []
    private var head = 0
    private var running = 0
    private var closed = false
    private var firstError: (any Error)?
    private let limit: Int

    public init(threads: Int, limit: Int) {
        self.limit = max(limit, threads)
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&changed, nil)
        for _ in 0..<max(1, threads) { spawn() }
    }

    deinit {
        pthread_cond_destroy(&changed)
        pthread_mutex_destroy(&mutex)
    }

    private final class Start { let body: () -> Void; init(_ b: @escaping () -> Void) { body = b } }

    private func spawn() {
        let start = Unmanaged.passRetained(Start { [self] in loop() }).toOpaque()
        var tid = pthread_t()
        let r = pthread_create(&tid, nil, { arg in
            Unmanaged<Start>.fromOpaque(arg!).takeRetainedValue().body()
            return nil
        }, start)
        precondition(r == 0, "cannot start a worker thread")
        pthread_detach(tid)
    }

    private func loop() {
        pthread_mutex_lock(&mutex)
        while true {
            while head == queue.count && !closed { pthread_cond_wait(&changed, &mutex) }
            if head == queue.count && closed { break }
            let job = queue[head]
            head += 1
            if head == queue.count { queue.removeAll(keepingCapacity: true); head = 0 }
            running += 1
            pthread_mutex_unlock(&mutex)
            var failure: (any Error)?
            do { try job() } catch { failure = error }
            pthread_mutex_lock(&mutex)
            if let failure, firstError == nil { firstError = failure }
            running -= 1
            pthread_cond_broadcast(&changed)
        }
        pthread_mutex_unlock(&mutex)
    }

    public func submit(_ job: @escaping Job) throws {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while queue.count - head + running >= limit && firstError == nil { pthread_cond_wait(&changed, &mutex) }
        if let e = firstError { throw e }
        queue.append(job)
        pthread_cond_broadcast(&changed)
    }

    /// Rethrows the first error a job threw, without waiting.
    public func check() throws {
        pthread_mutex_lock(&mutex)
        let e = firstError
        pthread_mutex_unlock(&mutex)
        if let e { throw e }
    }

    /// Waits until every submitted job has finished.
    public func wait() throws {
        pthread_mutex_lock(&mutex)
        while queue.count - head > 0 || running > 0 { pthread_cond_wait(&changed, &mutex) }
        let e = firstError
        pthread_mutex_unlock(&mutex)
        if let e { throw e }
    }

    /// Lets the threads finish once the queue is empty.
    public func close() {
        pthread_mutex_lock(&mutex)
        closed = true
        pthread_cond_broadcast(&changed)
        pthread_mutex_unlock(&mutex)
    }
}
