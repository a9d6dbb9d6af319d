import Synchronization

/// One operation's cancellation. Whoever runs the operation owns it and may cancel it: the
/// CLI's SIGINT handler, a server whose client went away, a lock that could no longer be
/// refreshed. Long operations check it between units of work and stop cleanly.
///
/// `cancel()` without a reason only stores to an atomic, so a signal handler may call it.
public final class CancellationToken: Sendable {
    private let flag = Atomic<Bool>(false)
    private let why = Locked<String?>(nil)

    public init() {}

    /// Asks the operation to stop. The first reason given is kept (nil: the user interrupted it).
    public func cancel(reason: String? = nil) {
        if let reason { why.withLock { if $0 == nil { $0 = reason } } }
        flag.store(true, ordering: .releasing)
    }

    public var isCancelled: Bool { flag.load(ordering: .acquiring) }

    /// Why the operation was cancelled, when it was not the user (a lost lock).
    public var reason: String? { isCancelled ? why.withLock { $0 } : nil }
}
