import CairnCore
import CairnTree
import CairnFormat
import CairnRepository
#if canImport(Glibc)
import Glibc
#endif

/// Why a path cannot be served; each is one errno.
public enum MountError: Error, Equatable, Sendable {
    case notFound, notFolder, isFolder, notLink, badHandle

    public var errno: Int32 {
        switch self {
        case .notFound: return ENOENT
        case .notFolder: return ENOTDIR
        case .isFolder: return EISDIR
        case .notLink: return EINVAL
        case .badHandle: return EBADF
        }
    }
}

/// What `stat` shows for a path of the mount.
public struct MountAttributes: Sendable, Equatable {
    public var type: NodeType
    /// Permission bits (st_mode & 0o7777).
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var size: UInt64
    /// Nanoseconds since the epoch.
    public var mtime: Int64
    public var ctime: Int64
    public var links: UInt32
    public var rdev: UInt64

    /// st_mode: the type's bits and the permission bits.
    public var statMode: UInt32 {
        let bits: UInt32
        switch type {
        case .file: bits = 0o100000
        case .directory: bits = 0o040000
        case .symlink: bits = 0o120000
        case .charDevice: bits = 0o020000
        case .blockDevice: bits = 0o060000
        case .fifo: bits = 0o010000
        case .socket: bits = 0o140000
        }
        return bits | mode & 0o7777
    }
}

/// The repository's snapshots as a read-only tree of paths, the whole of `cairn mount` but
/// the FUSE calls: the layout's folders (`MountLayout`) above, each snapshot's tree below.
///
/// A file is read by offset: `ChunkMap` finds the chunks that hold the bytes asked for, and
/// only those are loaded, through a cache of at most `cacheBytes` of chunks (least recently
/// used go first). Decoded trees have their own cache, a quarter of that size (at least 4 MiB).
///
/// Thread-safe: FUSE's worker threads call it at once. `Repository` is thread-safe (blobs
/// load from many threads), the view's own state (layout, caches, open files) is behind locks
/// held only to look up or store, so chunk loads run in parallel; two threads that miss the
/// same chunk may both load it.
public final class MountView: Sendable {
    public let repository: Repository
    let refreshNanos: Int64
    let owner: (uid: UInt32, gid: UInt32)
    let layoutState: Locked<(layout: MountLayout, listed: Set<ID>, checked: Int64)>
    let blobs: Locked<LRUCache<[UInt8]>>
    let trees: Locked<LRUCache<Tree>>
    let files = Locked((next: UInt64(0), open: [UInt64: ChunkMap]()))

    /// The index must be loaded. The snapshot list is read again when a folder of the layout is
    /// listed (or a name in one is not found), at most every `refreshSeconds`.
    public init(repository: Repository, cacheBytes: Int = 64 << 20, refreshSeconds: Double = 1) throws {
        self.repository = repository
        refreshNanos = Int64(refreshSeconds * 1e9)
        owner = (getuid(), getgid())
        let (snapshots, unreadable) = try repository.snapshots()
        layoutState = Locked((layout: MountLayout(snapshots: snapshots), listed: Set(snapshots.map(\.0) + unreadable.map(\.0)),
                              checked: Self.monotonicNow()))
        blobs = Locked(LRUCache(budget: cacheBytes))
        trees = Locked(LRUCache(budget: max(4 << 20, cacheBytes / 4)))
    }

    // MARK: paths

    public func attributes(_ path: String) throws -> MountAttributes { try attributes(Array(path.utf8)) }
    public func list(_ path: String) throws -> [(name: [UInt8], attributes: MountAttributes)] { try list(Array(path.utf8)) }
    public func readLink(_ path: String) throws -> [UInt8] { try readLink(Array(path.utf8)) }
    public func open(_ path: String) throws -> UInt64 { try open(Array(path.utf8)) }

    public func attributes(_ path: [UInt8]) throws -> MountAttributes { attributes(of: try resolve(path)) }

    /// The entries of a folder, without `.` and `..`; names that cannot be file names are left out.
    public func list(_ path: [UInt8]) throws -> [(name: [UInt8], attributes: MountAttributes)] {
        var r = try resolve(path)
        if case .folder = r {
            // restic's rule: listing the folders above the snapshots looks for new snapshots.
            if try refreshLayout() { r = try resolve(path) }
        }
        switch r {
        case .folder(let f):
            return f.names.map { (Array($0.utf8), attributes(of: Resolved(f[$0]!))) }
        case .link: throw MountError.notFolder
        case .snapshot(let s): return try entries(of: s.treeID!)
        case .node(let n):
            guard let sub = n.subtree else { throw MountError.notFolder }
            return try entries(of: sub)
        }
    }

    public func readLink(_ path: [UInt8]) throws -> [UInt8] {
        switch try resolve(path) {
        case .link(let target, _): return Array(target.utf8)
        case .node(let n) where n.type == .symlink: return n.linkTarget
        default: throw MountError.notLink
        }
    }

    // MARK: files

    /// Opens a file for reading: a handle for `read` and `close`.
    public func open(_ path: [UInt8]) throws -> UInt64 {
        let r = try resolve(path)
        guard case .node(let n) = r, n.type == .file else {
            if case .link = r { throw MountError.notFound }
            throw attributes(of: r).type == .directory ? MountError.isFolder : MountError.notFound
        }
        let map = try ChunkMap(repository: repository, chunks: n.chunks)
        return files.withLock { s in
            s.next += 1
            s.open[s.next] = map
            return s.next
        }
    }

    public func close(_ handle: UInt64) { files.withLock { _ = $0.open.removeValue(forKey: handle) } }

    /// Reads into `buffer` from `offset`: as much as fits, fewer bytes at the end of the file.
    public func read(_ handle: UInt64, offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let map = files.withLock({ $0.open[handle] }) else { throw MountError.badHandle }
        var at = 0
        try map.pieces(offset, UInt64(buffer.count)) { i, range in
            let chunk = try blob(map.chunks[i], length: map.length(of: i))
            chunk.withUnsafeBytes { src in
                UnsafeMutableRawBufferPointer(rebasing: buffer[at..<at + range.count])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: src[range]))
            }
            at += range.count
        }
        return at
    }

    /// Opens, reads `count` bytes from `offset` (fewer at the end) and closes.
    public func read(_ path: String, offset: UInt64, count: Int) throws -> [UInt8] {
        let h = try open(path)
        defer { close(h) }
        return try [UInt8](unsafeUninitializedCapacity: count) { buf, n in
            n = try read(h, offset: offset, into: UnsafeMutableRawBufferPointer(buf))
        }
    }

    /// Chunks held in the cache, and their bytes.
    public var cachedChunks: (count: Int, bytes: Int) { blobs.withLock { ($0.count, $0.cost) } }

    // MARK: resolving

    enum Resolved {
        case folder(MountLayout.Folder)
        case link(String, Timestamp)
        case snapshot(Snapshot)
        case node(Node)

        init(_ e: MountLayout.Entry) {
            switch e {
            case .folder(let f): self = .folder(f)
            case .link(let t, let time): self = .link(t, time)
            case .snapshot(_, let s): self = .snapshot(s)
            }
        }
    }

    func resolve(_ path: [UInt8]) throws -> Resolved {
        let parts = path.split(separator: 0x2F)
        if let r = try resolve(parts, in: layoutState.withLock { $0.layout }) { return r }
        // A name above the snapshots is not there: perhaps a snapshot is new.
        if try refreshLayout(), let r = try resolve(parts, in: layoutState.withLock { $0.layout }) { return r }
        throw MountError.notFound
    }

    /// Nil when a name of the layout's folders is missing.
    func resolve(_ parts: [ArraySlice<UInt8>], in layout: MountLayout) throws -> Resolved? {
        var folder = layout.root
        for (i, part) in parts.enumerated() {
            guard let e = folder[String(decoding: part, as: UTF8.self)] else { return nil }
            switch e {
            case .folder(let f): folder = f
            case .link(let t, let time):
                // The kernel follows links itself: a path never goes through one.
                guard i == parts.count - 1 else { throw MountError.notFolder }
                return .link(t, time)
            case .snapshot(_, let s): return try resolve(parts[(i + 1)...], in: s)
            }
        }
        return .folder(folder)
    }

    func resolve(_ parts: ArraySlice<ArraySlice<UInt8>>, in snapshot: Snapshot) throws -> Resolved {
        guard var tree = snapshot.treeID else { throw MountError.notFound }
        var node: Node? = nil
        for part in parts {
            if let n = node {
                guard let sub = n.subtree else { throw MountError.notFolder }
                tree = sub
            }
            guard let next = try self.tree(tree).node(named: Array(part)) else { throw MountError.notFound }
            node = next
        }
        if let node { return .node(node) }
        return .snapshot(snapshot)
    }

    /// Folders have 1 link, "not counted" (as on btrfs): 2, the usual count of a folder without
    /// subfolders, would make tree walkers (fts) skip looking for subfolders in it.
    func attributes(of r: Resolved) -> MountAttributes {
        func folder(_ t: Timestamp) -> MountAttributes {
            MountAttributes(type: .directory, mode: 0o555, uid: owner.uid, gid: owner.gid, size: 0,
                            mtime: t.nanoseconds, ctime: t.nanoseconds, links: 1, rdev: 0)
        }
        switch r {
        case .folder(let f): return folder(f.time)
        case .snapshot(let s): return folder(s.timestamp)
        case .link(let target, let t):
            return MountAttributes(type: .symlink, mode: 0o777, uid: owner.uid, gid: owner.gid, size: UInt64(target.utf8.count),
                                   mtime: t.nanoseconds, ctime: t.nanoseconds, links: 1, rdev: 0)
        case .node(let n):
            let size: UInt64 = n.type == .file ? n.size : n.type == .symlink ? UInt64(n.linkTarget.count) : 0
            return MountAttributes(type: n.type, mode: n.mode, uid: n.uid, gid: n.gid, size: size, mtime: n.mtime, ctime: n.ctime,
                                   links: n.type == .directory ? 1 : max(1, n.links), rdev: n.rdev)
        }
    }

    func entries(of tree: ID) throws -> [(name: [UInt8], attributes: MountAttributes)] {
        try self.tree(tree).nodes.filter { Node.isSafeName($0.name) }.map { ($0.name, attributes(of: .node($0))) }
    }

    // MARK: caches

    func tree(_ id: ID) throws -> Tree {
        if let t = trees.withLock({ $0.get(id) }) { return t }
        let bytes = try repository.loadBlob(.tree, id)
        let t = try Tree.decode(bytes)
        trees.withLock { $0.put(id, t, cost: bytes.count) }
        return t
    }

    func blob(_ id: ID, length: Int) throws -> [UInt8] {
        if let b = blobs.withLock({ $0.get(id) }) { return b }
        let b = try repository.loadBlob(.data, id)
        guard b.count == length else {
            throw RepositoryError.damaged("chunk \(id.short) holds \(b.count) bytes, the index says \(length)")
        }
        blobs.withLock { $0.put(id, b, cost: b.count) }
        return b
    }

    /// Reads the snapshot list again unless that was done less than the refresh interval ago;
    /// true when it changed. New snapshots' blobs may be in new index files: the index is
    /// loaded again too then.
    @discardableResult
    public func refreshLayout() throws -> Bool {
        try layoutState.withLock { state in
            let now = Self.monotonicNow()
            guard now - state.checked >= refreshNanos else { return false }
            state.checked = now
            let names = Set(try repository.list(.snapshot))
            guard names != state.listed else { return false }
            if !names.isSubset(of: state.listed) { try repository.loadIndex() }
            state.layout = MountLayout(snapshots: try repository.snapshots().snapshots)
            state.listed = names
            return true
        }
    }

    static func monotonicNow() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
