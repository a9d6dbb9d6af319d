import CairnCore
import CairnCrypto
import CairnCompression
import CairnFormat
import CairnStorage
#if canImport(Glibc)
import Glibc
#endif

/// A pack being filled: sealed blobs back to back, and their header entries. With a
/// spooling store the bytes go straight to a temporary file in the store, so no pack is ever
/// held in memory; otherwise they are buffered. The SHA-256 name is computed by the pack
/// writer thread when the pack is complete, not under the packer's lock.
final class PackBuilder: @unchecked Sendable {   // only touched under the writer lock, then by one writer
    var entries: [BlobEntry] = []
    var size: UInt64 = 0
    var memory: [UInt8] = []
    let spool: SpoolFile?

    init(spool: SpoolFile?) { self.spool = spool }

    func append(_ bytes: UnsafeRawBufferPointer) throws {
        if let spool { try spool.append(bytes) } else { memory.append(contentsOf: bytes) }
        size += UInt64(bytes.count)
    }

    /// SHA-256 of everything appended (read back from the spool file in 1 MiB pieces).
    func digest() throws -> ID {
        guard let spool else { return SHA256.hash(memory) }
        let hash = SHA256Stream()
        let piece = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: piece, alignment: 16)
        defer { buffer.deallocate() }
        var offset: UInt64 = 0
        while offset < size {
            let want = Int(min(UInt64(piece), size - offset))
            let n = pread(spool.fd, buffer.baseAddress, want, off_t(offset))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw StorageError.io("reading back \(spool.path): \(n < 0 ? String(cString: strerror(errno)) : "short file")") }
            hash.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            offset += UInt64(n)
        }
        return hash.finish()
    }
}

/// A worker's sealing context: zstd context plus reusable buffers.
final class Sealer: @unchecked Sendable {   // one thread at a time (checked out of a pool)
    let compressor: ZstdCompressor?
    var scratch: [UInt8] = []
    var sealed: [UInt8] = []
    init(level: Int32?) { compressor = level.map { ZstdCompressor(level: $0) } }
}

/// What the writing side of a repository holds between calls.
struct WriterState: Sendable {
    var open: [PackBuilder?] = [nil, nil]
    var inFlight: [Set<ID>] = [[], []]
    var unsaved: [IndexFile.Pack] = []
    var lastIndexSave = Timestamp.now()
    var stats = WriteStats()
}

/// Counters of what a run added to the repository.
public struct WriteStats: Sendable {
    public var blobsAdded = [0, 0]
    public var plainBytesAdded: UInt64 = 0
    public var storedBytesAdded: UInt64 = 0
    public var packsWritten = 0
}

/// Fault injection for tests of interrupted runs: `CAIRN_FAULT_KILL_AFTER_PACKS=N` makes the
/// process kill itself (SIGKILL, as `kill -9` would) right after the N-th pack it stores is
/// journalled, so a test interrupts at an event rather than after a guessed time.
enum FaultPoint {
    static let killAfterPacks: Int? = getenv("CAIRN_FAULT_KILL_AFTER_PACKS").flatMap { Int(String(cString: $0)) }
    static let stored = Locked(0)
    static func packStored() {
        guard let n = killAfterPacks else { return }
        if stored.withLock({ $0 += 1; return $0 }) >= n { kill(getpid(), SIGKILL) }
    }
}

extension Repository {
    /// Called after each pack is stored and journalled (the archiver writes its partial-tree
    /// checkpoint there); nil for none.
    public func setPackStoredHook(_ hook: (@Sendable () -> Void)?) { packStoredHook.withLock { $0 = hook } }

    /// How a plain (not multipart) pack upload is recorded in the upload journal (store and
    /// upload ID both `put`: the journal is the repository's own, whatever URL reached it).
    static let plainPut = "put"
    static func packObject(_ name: ID) -> String { "data/" + name.hex }

    /// Index checkpoints: after this many packs, or this many seconds, whichever is first.
    static let checkpointPacks = 32
    static let checkpointSeconds: Int64 = 300

    public var writeStats: WriteStats { writer.withLock { $0.stats } }

    /// Runs `body` with a sealing context from the pool: a zstd context and buffers that are
    /// reused, so storing a blob allocates nothing.
    func withSealer<T>(_ body: (Sealer) throws -> T) rethrows -> T {
        let s = sealers.withLock { $0.popLast() } ?? Sealer(level: compression.level)
        defer { sealers.withLock { $0.append(s) } }
        return try body(s)
    }

    /// Stores a blob unless the repository already has it (or another thread is storing it).
    /// Returns its ID and whether it was new.
    @discardableResult
    public func saveBlob(_ type: BlobType, _ data: UnsafeRawBufferPointer, id knownID: ID? = nil) throws -> (id: ID, new: Bool) {
        let id = knownID ?? blobID(data)
        let t = Int(type.rawValue)
        if indexState.withLock({ $0.contains(type, id) }) { return (id, false) }
        let reserved = writer.withLock { $0.inFlight[t].insert(id).inserted }
        if !reserved { return (id, false) }
        // Re-check: the pack holding it may have been indexed between the two locks.
        if indexState.withLock({ $0.contains(type, id) }) {
            _ = writer.withLock { $0.inFlight[t].remove(id) }
            return (id, false)
        }
        try withSealer { sealer in
            sealer.sealed.removeAll(keepingCapacity: true)
            let comp = BlobCodec.seal(data, type: type, id: id, key: key, compressor: sealer.compressor,
                                      scratch: &sealer.scratch, random: random, into: &sealer.sealed)
            try append(type, id: id, comp: comp, plainCount: data.count, sealed: sealer.sealed)
        }
        return (id, true)
    }

    /// Appends a sealed blob to the open pack of its type; writes the pack when full.
    func append(_ type: BlobType, id: ID, comp: Compression, plainCount: Int, sealed: [UInt8]) throws {
        let t = Int(type.rawValue)
        let packSize = UInt64(config.packSize)
        let full: PackBuilder? = try writer.withLock { w in
            if w.open[t] == nil {
                w.open[t] = PackBuilder(spool: try (backend as? any SpoolingBackend)?.createSpool(.pack))
            }
            let pack = w.open[t]!
            let entry = BlobEntry(type: type, compression: comp, storedLength: UInt32(sealed.count),
                                  offset: pack.size, plainLength: UInt32(plainCount), id: id)
            try sealed.withUnsafeBytes { try pack.append($0) }
            pack.entries.append(entry)
            w.stats.blobsAdded[t] += 1
            w.stats.plainBytesAdded += UInt64(plainCount)
            if pack.size >= packSize { w.open[t] = nil; return pack }
            return nil
        }
        if let full { try packWriter.submit { [self] in try writePack(full) } }
    }

    /// Appends a blob in its stored (sealed) form, as another pack holds it, unless the
    /// in-memory index already has it: the AEAD binds type and ID, not the pack or offset, so
    /// the bytes move as they are (prune's repacking). The caller has authenticated them.
    @discardableResult
    public func saveStoredBlob(_ entry: BlobEntry, _ stored: UnsafeRawBufferPointer) throws -> Bool {
        let t = Int(entry.type.rawValue)
        if indexState.withLock({ $0.contains(entry.type, entry.id) }) { return false }
        guard writer.withLock({ $0.inFlight[t].insert(entry.id).inserted }) else { return false }
        try append(entry.type, id: entry.id, comp: entry.compression, plainCount: Int(entry.plainLength), sealed: Array(stored))
        return true
    }

    @discardableResult
    public func saveBlob(_ type: BlobType, _ data: [UInt8]) throws -> (id: ID, new: Bool) {
        try data.withUnsafeBytes { try saveBlob(type, $0) }
    }

    /// Seals the header, names the pack by its SHA-256, makes it durable under that name,
    /// then indexes it.
    func writePack(_ pack: PackBuilder) throws {
        let name: ID
        do {
            var trailer: [UInt8] = []
            PackHeader(entries: pack.entries).seal(key: key, random: random, into: &trailer)
            // Re-verify the header we are about to write (restic's packer does the same).
            let sealedHeader = Array(trailer.dropLast(4))
            _ = try PackHeader.open(sealed: sealedHeader, packSize: pack.size + UInt64(trailer.count), key: key)
            try trailer.withUnsafeBytes { try pack.append($0) }
            name = try pack.digest()
            if let spool = pack.spool, let spooling = backend as? any SpoolingBackend {
                try spooling.commit(spool, .pack, name.hex)
            } else if backend.writesAtomically {
                try backend.write(.pack, name.hex, pack.memory)
            } else {
                // A cut upload may leave part of it under its name: journalled until the store
                // accepted it, so the next run can tell its own leftover from anything else.
                journal?.uploadStarted(store: Self.plainPut, object: Self.packObject(name), uploadID: Self.plainPut)
                try backend.write(.pack, name.hex, pack.memory)
                journal?.uploadEnded(store: Self.plainPut, object: Self.packObject(name), uploadID: Self.plainPut)
            }
        } catch {
            if let spool = pack.spool { (backend as? any SpoolingBackend)?.discard(spool) }
            throw error
        }
        let bytesCount = pack.size
        journal?.packStored(IndexFile.Pack(id: name, blobs: pack.entries), size: bytesCount)
        packStoredHook.withLock { $0 }?()
        FaultPoint.packStored()
        indexState.withLock { $0.add(pack: name, blobs: pack.entries) }
        let checkpoint: Bool = writer.withLock { w in
            for e in pack.entries { w.inFlight[Int(e.type.rawValue)].remove(e.id) }
            w.unsaved.append(IndexFile.Pack(id: name, blobs: pack.entries))
            w.stats.packsWritten += 1
            w.stats.storedBytesAdded += bytesCount
            return w.unsaved.count >= Self.checkpointPacks
                || Timestamp.now().nanoseconds - w.lastIndexSave.nanoseconds > Self.checkpointSeconds * 1_000_000_000
        }
        if checkpoint { try saveIndex() }
    }

    /// Writes an index file for every pack written since the last one.
    public func saveIndex() throws {
        let packs: [IndexFile.Pack] = writer.withLock { w in
            let p = w.unsaved; w.unsaved = []; w.lastIndexSave = Timestamp.now(); return p
        }
        guard !packs.isEmpty else { return }
        do {
            try saveFile(.index, IndexFile(packs: packs).encode())
        } catch {
            writer.withLock { $0.unsaved.insert(contentsOf: packs, at: 0) }
            throw error
        }
        journal?.packsIndexed(packs.map(\.id))
    }

    /// Writes the packs still open (data first, then tree) and the index for everything written.
    public func flush() throws {
        let pending: [PackBuilder] = writer.withLock { w in
            let o = w.open.compactMap { $0 }
            w.open = [nil, nil]
            return o
        }
        for p in pending { try packWriter.submit { [self] in try writePack(p) } }
        try packWriter.wait()
        try saveIndex()
    }

    /// Adopts packs that no index file lists, left by an interrupted run, so their blobs are
    /// reused rather than sent again. Packs the upload journal knows are adopted from it after
    /// one listing of the store (no reads); others are adopted from their header (two ranged
    /// reads each; the blobs' MACs are checked when read). A pack whose header does not open
    /// is not adopted (check reports it). One index file lists everything adopted.
    @discardableResult
    public func indexUnindexedPacks() throws -> (fromJournal: Int, fromHeaders: Int, damaged: [ID]) {
        let listed = Dictionary(try backend.list(.pack).compactMap { f in ID(hex: f.name).map { ($0, f.size) } },
                                uniquingKeysWith: { a, _ in a })
        var found: [IndexFile.Pack] = []
        var fromJournal = 0
        var stale: [ID] = []
        for (pack, size) in journal?.storedPacks() ?? [] {
            if hasPack(pack.id) { stale.append(pack.id); continue }
            guard listed[pack.id] == size else { stale.append(pack.id); continue }   // gone (pruned?) or different
            found.append(pack); fromJournal += 1
        }
        journal?.packsIndexed(stale)
        let adopted = Set(found.map(\.id))
        var damaged: [ID] = []
        for (id, size) in listed where !hasPack(id) && !adopted.contains(id) {
            do { found.append(IndexFile.Pack(id: id, blobs: try readPackHeader(id, size: size).entries)) }
            catch { damaged.append(id) }
        }
        // Uploads this client began on a store that writes in place and never saw accepted:
        // one whose file is there but is no whole pack is this client's own leftover (the
        // name is the SHA-256 of bytes with a random nonce, so no other writer makes it), and
        // goes; the rest are forgotten.
        for u in journal?.unfinishedUploads(store: Self.plainPut) ?? [] where u.uploadID == Self.plainPut {
            guard u.object.hasPrefix("data/"), let id = ID(hex: String(u.object.dropFirst(5))) else { continue }
            if let i = damaged.firstIndex(of: id) {
                do { try backend.delete(.pack, id.hex); damaged.remove(at: i) } catch StorageError.notFound { damaged.remove(at: i) } catch { continue }
            }
            journal?.uploadEnded(store: Self.plainPut, object: u.object, uploadID: u.uploadID)
        }
        guard !found.isEmpty else { return (0, 0, damaged) }
        indexState.withLock { idx in for p in found { idx.add(pack: p.id, blobs: p.blobs) } }
        writer.withLock { $0.unsaved.append(contentsOf: found) }
        try saveIndex()
        return (fromJournal, found.count - fromJournal, damaged)
    }
}
