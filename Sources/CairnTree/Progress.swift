import CairnCore

/// Counters a long operation updates and the CLI reads for its live progress line.
public final class OperationProgress: Sendable {
    public struct Counters: Sendable {
        public var files = 0
        public var dirs = 0
        public var bytes: UInt64 = 0
        public var totalFiles: Int? = nil
        public var totalBytes: UInt64? = nil
        public var errors = 0
        public var current = ""
    }
    private let state = Locked(Counters())
    public let started = Timestamp.now()
    public init() {}

    public var counters: Counters { state.withLock { $0 } }
    public func update(_ body: (inout Counters) -> Void) { state.withLock { body(&$0) } }
    public func addBytes(_ n: Int) { state.withLock { $0.bytes += UInt64(n) } }
}
