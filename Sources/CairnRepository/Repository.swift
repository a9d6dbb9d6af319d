import CairnCore
import CairnCrypto
import CairnCompression
import CairnChunking
import CairnFormat
import CairnStorage
#if canImport(Glibc)
import Glibc
#endif

/// An open repository: keys unlocked, config read. Thread-safe: blobs may be saved and loaded
/// from many threads at once.
public final class Repository: Sendable {
    public let backend: any Backend
    public let key: MasterKey
    public let keyName: String
    public let config: Config
    public let random: any RandomSource
    public let cdc: FastCDC
    public let compression: CompressionMode
    public let id: ID
    /// The operation this repository was opened for is cancelled through this token.
    public let cancellation: CancellationToken

    let indexState = Locked(BlobIndex())
    let writer = Locked(WriterState())
    let sealers = Locked([Sealer]())
    /// Sends full packs to the store and makes them durable (fsync, rename, index) off the
    /// compressing threads, `connections` at a time.
    let packWriter: WorkerPool
    let cacheState = Locked<Cache?>(nil)
    let configDigestState = Locked(ID.zero)
    /// SHA-256 of the stored config file: names the repository before it is opened.
    public internal(set) var configDigest: ID {
        get { configDigestState.withLock { $0 } }
        set { configDigestState.withLock { $0 = newValue } }
    }
    let journalState = Locked<Journal?>(nil)
    let packStoredHook = Locked<(@Sendable () -> Void)?>(nil)

    deinit { packWriter.close() }

    /// Uses a local cache for index and snapshot files and tree blobs.
    /// Also opens the upload journal beside it, and hands it to a multipart store.
    public func attachCache(folder: String) throws {
        let c = try Cache(folder: folder, repositoryID: id)
        cacheState.withLock { $0 = c }
        let j = try Journal(folder: folder + "/" + id.hex, key: key, random: random)
        journalState.withLock { $0 = j }
        (backend as? any MultipartBackend)?.attach(journal: j)
    }
    public var cache: Cache? { cacheState.withLock { $0 } }

    /// How the local cache is used (format-spec §15.1).
    public enum CacheUse: Sendable {
        /// A verified cached copy stands in for a download (every command but check).
        case readAndWrite
        /// Every file and tree is read from the store; the cache is only refreshed from what
        /// was read. A cached copy proves what a file held, never that the store still holds
        /// it intact, so `check` uses this.
        case refreshOnly
    }
    let cacheUseState = Locked(CacheUse.readAndWrite)
    public var cacheUse: CacheUse {
        get { cacheUseState.withLock { $0 } }
        set { cacheUseState.withLock { $0 = newValue } }
    }
    /// The cache, when its copies may stand in for reads from the store.
    var readableCache: Cache? { cacheUse == .readAndWrite ? cache : nil }
    public var journal: Journal? { journalState.withLock { $0 } }

    public static let programVersion = "cairn 0.1.0"

    init(backend: any Backend, key: MasterKey, keyName: String, config: Config, random: any RandomSource, compression: CompressionMode?,
         connections: Int = 1, cancellation: CancellationToken = CancellationToken()) {
        self.cancellation = cancellation
        packWriter = WorkerPool(threads: max(1, connections), limit: max(1, connections) + 3)
        self.backend = backend; self.key = key; self.keyName = keyName; self.config = config; self.random = random
        self.cdc = FastCDC(parameters: config.chunkerParameters, gear: GearTable.derive(chunkerKey: key.chunkerKey))
        self.compression = compression ?? config.compression
        self.id = ID(hex: config.id)!
    }

    // MARK: creating and opening

    /// Writes a key file (format-spec §5) that opens `master` with `password`; returns its
    /// name, the SHA-256 of its bytes. Durable when it returns.
    static func writeKeyFile(master: MasterKey, password: [UInt8], parameters: ScryptParameters, hostname: String, username: String,
                             created: Timestamp, random: any RandomSource, to backend: any Backend) throws -> String {
        let k = try KeyFile.create(master: master, password: password, parameters: parameters, hostname: hostname,
                                   username: username, created: created, random: random)
        let bytes = try k.encoded()
        let name = SHA256.hash(bytes).hex
        try backend.write(.key, name, bytes)
        return name
    }

    /// Adds a key file for another password (`key add`, `key passwd`); returns its name.
    public func addKey(password: [UInt8], parameters: ScryptParameters = .default, hostname: String = Host.name,
                       username: String = Host.user, created: Timestamp = .now()) throws -> String {
        try Self.writeKeyFile(master: key, password: password, parameters: parameters, hostname: hostname, username: username,
                              created: created, random: random, to: backend)
    }

    public struct InitOptions: Sendable {
        public var chunker = ChunkerParameters.default
        public var compression = CompressionMode.auto
        public var packSize = 16 << 20
        public var scrypt = ScryptParameters.default
        public var hostname = Host.name
        public var username = Host.user
        public var time = Timestamp.now()
        /// The ID and chunker keys of another repository (with its chunker parameters): blobs
        /// then get the same IDs and cuts in both, so `copy` sends only what is missing and
        /// backups into either deduplicate against copies. The encryption key is always new.
        public var sharedKeys: MasterKey? = nil
        public init() {}
    }

    /// Creates a repository: config, one key file. Returns it opened.
    public static func initialize(backend: any Backend, password: [UInt8], options: InitOptions = .init(),
                                  random: any RandomSource = SystemRandom()) throws -> Repository {
        if backend.exists(.config, "config") { throw RepositoryError.alreadyExists(backend.location) }
        try options.chunker.validate()
        try Config(id: .zero, chunker: options.chunker, compression: options.compression, packSize: options.packSize).validate()
        guard options.scrypt.isSane else { throw RepositoryError.invalidArgument("scrypt parameters out of range") }
        try backend.create()
        var master = MasterKey.generate(random: random)
        if let shared = options.sharedKeys {
            master = MasterKey(encryptionKey: master.encryptionKey, idKey: shared.idKey, chunkerKey: shared.chunkerKey)
        }
        let repoID = ID(random.bytes(32))
        let config = Config(id: repoID, chunker: options.chunker, compression: options.compression, packSize: options.packSize)
        let keyName = try writeKeyFile(master: master, password: password, parameters: options.scrypt, hostname: options.hostname,
                                       username: options.username, created: options.time, random: random, to: backend)
        let sealed = Envelope.seal(try config.encoded(), type: .config, key: master, compress: false, random: random)
        try backend.write(.config, "config", sealed)
        let r = Repository(backend: backend, key: master, keyName: keyName, config: config, random: random, compression: nil)
        r.configDigest = SHA256.hash(sealed)
        return r
    }

    /// How `open` picks and tries key files (format-spec §4.3).
    public struct KeySelection: Sendable {
        /// The name of the key file that opened the repository last, given the SHA-256 of the
        /// stored config file: tried first.
        public var lastUsed: (@Sendable (_ configDigest: ID) -> String?)?
        /// Try key files whose scrypt cost is above `ScryptParameters.ceiling`.
        public var allowExpensiveKDF = false
        /// Told of each key file skipped for its cost.
        public var warn: (@Sendable (String) -> Void)?
        /// Told of each key file a password is derived for (tests count them).
        public var tried: (@Sendable (String) -> Void)?
        public init() {}
    }

    /// Opens a repository with a password, trying the last-used key file first and then every
    /// key file in name order, skipping those above the KDF cost ceiling unless allowed.
    /// `connections`: how many packs are sent to the store at once.
    public static func open(backend: any Backend, password: [UInt8], compression: CompressionMode? = nil,
                            random: any RandomSource = SystemRandom(), connections: Int = 1,
                            keys selection: KeySelection = .init(),
                            cancellation: CancellationToken = CancellationToken()) throws -> Repository {
        let sealedConfig: [UInt8]
        do { sealedConfig = try backend.read(.config, "config") }
        catch StorageError.notFound { throw RepositoryError.noRepository(backend.location) }
        let configDigest = SHA256.hash(sealedConfig)
        var keys = try backend.list(.key).sorted { $0.name < $1.name }
        if let last = selection.lastUsed?(configDigest), let i = keys.firstIndex(where: { $0.name == last }) {
            keys.insert(keys.remove(at: i), at: 0)
        }
        var lastError: Error?
        var skipped: [String] = []
        for k in keys {
            let master: MasterKey
            do {
                let file = try KeyFile.decode(try backend.read(.key, k.name))
                guard selection.allowExpensiveKDF || file.scrypt.isWithinCeiling else {
                    skipped.append(k.name)
                    selection.warn?("key file keys/\(k.name) skipped: its scrypt cost (\(file.scrypt.shown)) is above the ceiling "
                                    + "N·r·p ≤ 2^\(ScryptParameters.ceiling.trailingZeroBitCount); --allow-expensive-kdf tries it")
                    continue
                }
                selection.tried?(k.name)
                master = try file.open(password: password)
            } catch FormatError.authenticationFailed {
                continue
            } catch {
                lastError = error
                continue
            }
            // The password opened a key: a config that does not open now is damaged, not a
            // wrong password.
            let config: Config
            do { config = try Config.decode(try Envelope.open(sealedConfig, type: .config, key: master)) }
            catch let e as FormatError {
                if case .unsupportedVersion = e { throw e }
                throw RepositoryError.damaged("the config file does not open with the repository's key (\(e)); it is the one file without a copy: restore it from a copy of the repository")
            }
            let r = Repository(backend: backend, key: master, keyName: k.name, config: config, random: random, compression: compression,
                               connections: connections, cancellation: cancellation)
            r.configDigest = configDigest
            return r
        }
        if let lastError, case FormatError.unsupportedVersion = lastError { throw lastError }
        if !skipped.isEmpty { throw RepositoryError.wrongPasswordSkipped(skipped.count) }
        throw RepositoryError.wrongPassword
    }

    /// Throws when the operation was cancelled: `interrupted` when the user asked, otherwise
    /// `cancelled` with the reason (a lock that could not be refreshed).
    public func checkCancelled() throws {
        guard cancellation.isCancelled else { return }
        if let why = cancellation.reason { throw RepositoryError.cancelled(why) }
        throw RepositoryError.interrupted
    }

    // MARK: repository files

    /// Seals and stores a file; its name is the SHA-256 of the stored bytes.
    @discardableResult
    public func saveFile(_ type: FileType, _ payload: [UInt8], compress: Bool = true) throws -> ID {
        let sealed = Envelope.seal(payload, type: type, key: key, compress: compress, random: random)
        let name = SHA256.hash(sealed)
        try backend.write(type, name.hex, sealed)
        if type == .index || type == .snapshot { cache?.putFile(type, name, sealed) }
        return name
    }

    /// Loads and opens a file, checking that its bytes hash to its name.
    public func loadFile(_ type: FileType, _ name: ID) throws -> [UInt8] {
        let cacheable = type == .index || type == .snapshot
        if cacheable, let c = readableCache, let sealed = c.file(type, name) {
            if let plain = try? Envelope.open(sealed, type: type, key: key) { return plain }
            c.dropFile(type, name)
        }
        let sealed: [UInt8]
        do { sealed = try backend.read(type, name.hex) }
        catch StorageError.notFound { throw RepositoryError.fileNotFound("\(type.rawValue) \(name.hex)") }
        if cacheable && SHA256.hash(sealed) == name { cache?.putFile(type, name, sealed) }
        guard SHA256.hash(sealed) == name else {
            throw RepositoryError.damaged("\(type.rawValue) file \(name.hex) does not match its SHA-256 name")
        }
        return try Envelope.open(sealed, type: type, key: key)
    }

    public func list(_ type: FileType) throws -> [ID] {
        // Only canonical (lowercase) names: anything else is not a file we wrote.
        try backend.list(type).compactMap { f in ID(hex: f.name).flatMap { $0.hex == f.name ? $0 : nil } }
    }

    /// Resolves a unique prefix of a file name.
    public func find(_ type: FileType, prefix: String) throws -> ID {
        // An empty prefix would match every file: one snapshot would be taken without being named.
        guard !prefix.isEmpty else { throw RepositoryError.invalidArgument("an empty \(type.rawValue) name: give an ID, a unique prefix\(type == .snapshot ? " or latest" : "")") }
        if let id = ID(hex: prefix) { return id }
        let matches = try list(type).filter { $0.hex.hasPrefix(prefix.lowercased()) }
        if matches.count == 1 { return matches[0] }
        if matches.isEmpty { throw RepositoryError.fileNotFound("no \(type.rawValue) starts with \(prefix)") }
        throw RepositoryError.ambiguous("\(matches.count) \(type.rawValue) files start with \(prefix)")
    }

    // MARK: snapshots

    public func saveSnapshot(_ s: Snapshot) throws -> ID { try saveFile(.snapshot, try s.encoded()) }

    public func loadSnapshot(_ id: ID) throws -> Snapshot { try Snapshot.decode(try loadFile(.snapshot, id)) }

    /// Every snapshot that can be read, oldest first, plus the ones that could not.
    public func snapshots() throws -> (snapshots: [(ID, Snapshot)], errors: [(ID, Error)]) {
        var ok: [(ID, Snapshot)] = [], bad: [(ID, Error)] = []
        for id in try list(.snapshot) {
            do { ok.append((id, try loadSnapshot(id))) } catch { bad.append((id, error)) }
        }
        ok.sort { ($0.1.timestamp, $0.0) < ($1.1.timestamp, $1.0) }
        return (ok, bad)
    }

    // MARK: index

    /// What loading the index found besides the blobs.
    public struct IndexLoad: Sendable {
        /// Index files that could not be read or decoded.
        public var bad: [(ID, Error)] = []
        /// Index files present in the store but named in another file's `supersedes` (left by an
        /// interrupted rewrite): their content is not in the in-memory index.
        public var superseded: Set<ID> = []
        /// Packs that superseded files list and no live file does, with their entries for
        /// blobs no live file lists: still visible (§9), so a client that may only add files
        /// cannot hide data by superseding what lists it.
        public var keptFromSuperseded: [ID: [BlobEntry]] = [:]
    }

    /// Loads every index file into memory, ignoring files another file supersedes (§9).
    /// `visit` sees each decoded file with full IDs (the in-memory table keeps prefixes),
    /// superseded ones included: callers filter with the result's `superseded`.
    @discardableResult
    public func loadIndex(visit: ((ID, IndexFile) -> Void)? = nil) throws -> IndexLoad {
        var idx = BlobIndex()
        var result = IndexLoad()
        var supersededByOthers = Set<ID>()
        let names = try list(.index)
        cache?.retain(.index, only: Set(names))
        for name in names {
            do {
                let file = try IndexFile.decode(try loadFile(.index, name))
                idx.addBulk(file)
                for s in file.supersedes where s != name { supersededByOthers.insert(s) }
                visit?(name, file)
            } catch { result.bad.append((name, error)) }
        }
        result.superseded = supersededByOthers.intersection(names)
        if !result.superseded.isEmpty {
            // Rare: a rewrite was interrupted before deleting the old files. Build the table
            // again from the live files, so blobs of packs the rewrite dropped are not listed,
            // but keep every pack a superseded file lists that no live file does: superseding
            // narrows what readers see only to what the replacements still list (§9).
            // A blob the live files list keeps the live location.
            idx = BlobIndex()
            var livePacks = Set<ID>()
            var liveBlobs = Set<BlobKeyRef>()
            for name in names where !result.superseded.contains(name) {
                if let file = try? IndexFile.decode(try loadFile(.index, name)) {
                    idx.addBulk(file)
                    for p in file.packs {
                        livePacks.insert(p.id)
                        for b in p.blobs { liveBlobs.insert(BlobKeyRef(type: b.type, id: b.id)) }
                    }
                }
            }
            for name in names.sorted() where result.superseded.contains(name) {
                guard let file = try? IndexFile.decode(try loadFile(.index, name)) else { continue }
                for p in file.packs where !livePacks.contains(p.id) && result.keptFromSuperseded[p.id] == nil {
                    let only = p.blobs.filter { !liveBlobs.contains(BlobKeyRef(type: $0.type, id: $0.id)) }
                    if only.isEmpty { continue }
                    result.keptFromSuperseded[p.id] = only
                    idx.addBulk(IndexFile(packs: [IndexFile.Pack(id: p.id, blobs: only)]))
                }
            }
        }
        idx.finishBulkLoad()
        indexState.withLock { $0 = idx }
        return result
    }

    public var index: BlobIndex { indexState.withLock { $0 } }

    public func hasPack(_ id: ID) -> Bool { indexState.withLock { $0.hasPack(id) } }

    public func lookup(_ type: BlobType, _ id: ID) -> BlobLocation? { indexState.withLock { $0.lookup(type, id) } }

    public func hasBlob(_ type: BlobType, _ id: ID) -> Bool { indexState.withLock { $0.contains(type, id) } }

    // MARK: blobs

    public func blobID(_ data: UnsafeRawBufferPointer) -> ID { key.blobMAC.mac(data) }
    public func blobID(_ data: [UInt8]) -> ID { key.blobMAC.mac(data) }

    /// Loads a blob's plaintext. With `verify`, also recomputes its keyed ID.
    public func loadBlob(_ type: BlobType, _ id: ID, verify: Bool = false) throws -> [UInt8] {
        guard let loc = lookup(type, id) else { throw RepositoryError.blobNotFound(type, id) }
        if type == .tree, let c = readableCache, let stored = c.blob(id), stored.count == Int(loc.entry.storedLength) {
            if let plain = try? stored.withUnsafeBytes({ try BlobCodec.open($0, entry: loc.entry, key: key) }),
               !verify || blobID(plain) == id { return plain }
            c.dropBlob(id)
        }
        let stored = try backend.read(.pack, loc.pack.hex, offset: loc.entry.offset, length: Int(loc.entry.storedLength))
        if type == .tree { cache?.putBlob(id, stored) }
        let plain = try stored.withUnsafeBytes { try BlobCodec.open($0, entry: loc.entry, key: key) }
        if verify, blobID(plain) != id { throw RepositoryError.damaged("blob \(id.short) does not match its ID") }
        return plain
    }

    /// Opens one blob out of a whole pack's bytes: in bounds, authenticated, and hashing to
    /// its ID (what `check --read-data` and `repair packs` both need).
    public func openBlob(_ e: BlobEntry, inPack bytes: [UInt8]) throws -> [UInt8] {
        try openBlob(e, in: bytes, at: 0)
    }

    /// The same, for `bytes` read from the pack starting at offset `start`.
    public func openBlob(_ e: BlobEntry, in bytes: [UInt8], at start: UInt64) throws -> [UInt8] {
        let end = e.offset + UInt64(e.storedLength)
        guard e.offset >= start, end - start <= UInt64(bytes.count) else { throw RepositoryError.damaged("\(e.type) blob \(e.id.short) extends past the end of the pack") }
        let plain = try bytes.withUnsafeBytes { try BlobCodec.open(UnsafeRawBufferPointer(rebasing: $0[Int(e.offset - start)..<Int(end - start)]), entry: e, key: key) }
        guard blobID(plain) == e.id else { throw RepositoryError.damaged("content does not match its ID") }
        return plain
    }

    public func loadTree(_ id: ID) throws -> Tree { try Tree.decode(try loadBlob(.tree, id)) }

    /// Stores a tree blob (unless already stored) and returns its ID.
    public func saveTree(_ tree: Tree) throws -> ID {
        let bytes = tree.encode()
        return try bytes.withUnsafeBytes { try saveBlob(.tree, $0).id }
    }

    /// Reads a pack's header from the end of the pack.
    public func readPackHeader(_ pack: ID, size: UInt64? = nil) throws -> PackHeader {
        let packSize = try size ?? backend.stat(.pack, pack.hex).size
        guard packSize >= 4 else { throw FormatError.truncated("pack \(pack.short)") }
        let trailer = try backend.read(.pack, pack.hex, offset: packSize - 4, length: 4)
        let n = try PackHeader.headerLength(trailer: trailer, packSize: packSize)
        let sealed = try backend.read(.pack, pack.hex, offset: packSize - 4 - UInt64(n), length: n)
        return try PackHeader.open(sealed: sealed, packSize: packSize, key: key)
    }
}

/// A blob's type and ID, as a set member.
struct BlobKeyRef: Hashable { var type: BlobType; var id: ID }

/// Host facts recorded in snapshots, key files and locks.
public enum Host {
    public static var name: String {
        var buf = [UInt8](repeating: 0, count: 256)
        _ = buf.withUnsafeMutableBufferPointer { p in p.withMemoryRebound(to: CChar.self) { gethostname($0.baseAddress!, 255) } }
        return String(decoding: buf.prefix { $0 != 0 }, as: UTF8.self)
    }
    public static var user: String {
        if let pw = getpwuid(getuid()), let n = pw.pointee.pw_name { return String(cString: n) }
        return String(getuid())
    }
}
