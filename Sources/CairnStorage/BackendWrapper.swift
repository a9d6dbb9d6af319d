/// A store around another store, adding one behaviour (RetryingBackend, RateLimitedBackend,
/// MeteredBackend, DryRunBackend). What a wrapper does not change goes to `inner` as it is,
/// through the default implementations below; a wrapper writes only what it changes.
///
/// The refinements a store may have — `SpoolingBackend` (packs built in place),
/// `MultipartBackend` (S3's resumable uploads), `TemporaryCleaning` — are forwarded by
/// conditional conformance: each wrapper declares
///
///     extension MyWrapper: SpoolingBackend where Inner: SpoolingBackend {}
///
/// so `MyWrapper<LocalBackend>` is a SpoolingBackend and `MyWrapper<RESTBackend>` is not,
/// and `backend as? any SpoolingBackend` keeps answering for the store underneath however
/// many wrappers are around it. `writesAtomically` is the inner store's.
///
/// A wrapper is made over a concrete store type: pass an `any Backend` to a generic
/// function (`func wrap(_ b: some Backend)`) and Swift opens it.
public protocol BackendWrapper: Backend {
    associatedtype Inner: Backend
    var inner: Inner { get }
}

extension BackendWrapper {
    public var location: String { inner.location }
    public var writesAtomically: Bool { inner.writesAtomically }
    public func create() throws { try inner.create() }
    public func list(_ type: FileType) throws -> [FileInfo] { try inner.list(type) }
    public func stat(_ type: FileType, _ name: String) throws -> FileInfo { try inner.stat(type, name) }
    public func read(_ type: FileType, _ name: String, offset: UInt64, length: Int?) throws -> [UInt8] {
        try inner.read(type, name, offset: offset, length: length)
    }
    public func write(_ type: FileType, _ name: String, _ bytes: [UInt8]) throws { try inner.write(type, name, bytes) }
    public func delete(_ type: FileType, _ name: String) throws { try inner.delete(type, name) }
}

extension BackendWrapper where Inner: SpoolingBackend {
    public func createSpool(_ type: FileType) throws -> SpoolFile { try inner.createSpool(type) }
    public func commit(_ spool: SpoolFile, _ type: FileType, _ name: String) throws { try inner.commit(spool, type, name) }
    public func discard(_ spool: SpoolFile) { inner.discard(spool) }
}

extension BackendWrapper where Inner: MultipartBackend {
    public func attach(journal: any UploadJournal) { inner.attach(journal: journal) }
    @discardableResult
    public func cleanUpInterruptedUploads(olderThanSeconds: Int64) throws -> Int {
        try inner.cleanUpInterruptedUploads(olderThanSeconds: olderThanSeconds)
    }
}

extension BackendWrapper where Inner: TemporaryCleaning {
    @discardableResult
    public func removeStaleTemporaries(olderThan seconds: Int) -> Int { inner.removeStaleTemporaries(olderThan: seconds) }
}

extension Backend {
    /// The first layer of type `T` in this stack: the store itself, or a wrapper, or the
    /// store inside them (`repo.backend.layer(LocalBackend.self)?.root`).
    public func layer<T>(_ type: T.Type) -> T? {
        if let found = self as? T { return found }
        return (self as? any BackendWrapper)?.inner.layer(type)
    }

    /// The store under every wrapper.
    public var unwrapped: any Backend {
        guard let wrapper = self as? any BackendWrapper else { return self }
        return wrapper.inner.unwrapped
    }
}
