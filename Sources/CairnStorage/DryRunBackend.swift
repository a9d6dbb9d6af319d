import CairnCore

/// Reads from the store; records what would be created, written and deleted, and does none
/// of it. Listings and reads show the store as it is (a file "written" here is not there to
/// read back). It passes on none of the refinements: no spooling (building a pack in place
/// would write), no multipart uploads, no cleaning of temporary files.
public struct DryRunBackend<Inner: Backend>: BackendWrapper {
    public let inner: Inner
    public let record: DryRunRecord

    public init(_ inner: Inner, record: DryRunRecord = DryRunRecord()) { self.inner = inner; self.record = record }

    public func create() throws { record.add(.create) }
    public func write(_ type: FileType, _ name: String, _ bytes: [UInt8]) throws { record.add(.write(type, name, size: bytes.count)) }
    public func delete(_ type: FileType, _ name: String) throws { record.add(.delete(type, name)) }
}

/// What a dry run was asked to change, in order.
public final class DryRunRecord: Sendable {
    public enum Change: Sendable, Equatable {
        case create
        case write(FileType, String, size: Int)
        case delete(FileType, String)
    }

    let changes = Locked<[Change]>([])
    public init() {}
    public var changesAsked: [Change] { changes.withLock { $0 } }
    func add(_ c: Change) { changes.withLock { $0.append(c) } }
}
