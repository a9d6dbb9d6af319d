import Synchronization

/// Bytes a store sent and received (the progress line's "sent … received …"). Owned by
/// whoever opened the store; the CLI hands one to each store it opens and shows the sum.
public final class TransferMeter: Sendable {
    private let up = Atomic<UInt64>(0)
    private let down = Atomic<UInt64>(0)

    public init() {}

    /// Bytes of files written (and packs committed) so far.
    public var sent: UInt64 { up.load(ordering: .relaxed) }
    /// Bytes of files read so far.
    public var received: UInt64 { down.load(ordering: .relaxed) }

    public func countSent(_ n: UInt64) { up.wrappingAdd(n, ordering: .relaxed) }
    public func countReceived(_ n: UInt64) { down.wrappingAdd(n, ordering: .relaxed) }
}

/// Counts the bytes of each file read and each write (or spool commit) that succeeded —
/// payload, once per call: above the retry wrapper, so an attempt that failed is not counted,
/// and without the protocol's own overhead (listings, HTTP headers, S3's XML).
public struct MeteredBackend<Inner: Backend>: BackendWrapper {
    public let inner: Inner
    public let meter: TransferMeter

    public init(_ inner: Inner, meter: TransferMeter) { self.inner = inner; self.meter = meter }

    public func read(_ type: FileType, _ name: String, offset: UInt64, length: Int?) throws -> [UInt8] {
        let bytes = try inner.read(type, name, offset: offset, length: length)
        meter.countReceived(UInt64(bytes.count))
        return bytes
    }

    public func write(_ type: FileType, _ name: String, _ bytes: [UInt8]) throws {
        try inner.write(type, name, bytes)
        meter.countSent(UInt64(bytes.count))
    }
}

extension MeteredBackend: SpoolingBackend where Inner: SpoolingBackend {
    public func commit(_ spool: SpoolFile, _ type: FileType, _ name: String) throws {
        let size = spool.size
        try inner.commit(spool, type, name)
        meter.countSent(size)
    }
}
extension MeteredBackend: MultipartBackend where Inner: MultipartBackend {}
extension MeteredBackend: TemporaryCleaning where Inner: TemporaryCleaning {}
