/// Retries a store's transient failures (`StorageError.transient`) with the policy's
/// exponential backoff; everything else fails at once.
///
/// Where retry lives, once per store, never twice: HTTP stores (REST, S3) retry each
/// request inside `HTTPExchange` (so a multipart upload re-sends one part, not the whole
/// object, and each S3 attempt is signed anew) and are not wrapped in this; every other
/// store (local, SFTP, one added later) is. The scheme registry (CairnStores) decides, from
/// what each scheme registered.
///
/// Retrying a whole operation is safe by the `Backend` contract: a write is atomic and
/// may be repeated with the same bytes, a delete of a missing file is not an error.
/// A spool's commit is not retried (its file is gone after the first attempt).
public struct RetryingBackend<Inner: Backend>: BackendWrapper {
    public let inner: Inner
    public let policy: RetryPolicy

    public init(_ inner: Inner, policy: RetryPolicy) { self.inner = inner; self.policy = policy }

    public func create() throws { try policy.run { try inner.create() } }
    public func list(_ type: FileType) throws -> [FileInfo] { try policy.run { try inner.list(type) } }
    public func stat(_ type: FileType, _ name: String) throws -> FileInfo { try policy.run { try inner.stat(type, name) } }
    public func read(_ type: FileType, _ name: String, offset: UInt64, length: Int?) throws -> [UInt8] {
        try policy.run { try inner.read(type, name, offset: offset, length: length) }
    }
    public func write(_ type: FileType, _ name: String, _ bytes: [UInt8]) throws { try policy.run { try inner.write(type, name, bytes) } }
    public func delete(_ type: FileType, _ name: String) throws { try policy.run { try inner.delete(type, name) } }
}

extension RetryingBackend: SpoolingBackend where Inner: SpoolingBackend {}
extension RetryingBackend: MultipartBackend where Inner: MultipartBackend {}
extension RetryingBackend: TemporaryCleaning where Inner: TemporaryCleaning {}
