import CairnCore
import CairnChunking
import CairnCompression
import CairnFormat
import CairnRepository
import CairnTree
import CairnRetention
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

public struct BackupOptions: Sendable {
    public var excludes: [String] = []
    public var oneFileSystem = false
    public var tags: [String] = []
    public var hostname = Host.name
    public var dryRun = false
    public var force = false
    public var parent: ID? = nil
    public var time: Timestamp? = nil
    /// How a stream (not a file) is cut: tar-aware when it is a tar (spec §13.4).
    public var streamFormat: StreamFormat = .auto
    /// A gzip, zstd or xz stream is stored decompressed (its name loses the suffix).
    public var decompress = false
    /// What a stream snapshot records in `paths` (and matches its parent by) instead of its
    /// file name: a source's `kind:NAME` (format-spec §11).
    public var streamPath: String? = nil
    public init() {}
}

public struct BackupResult: Sendable {
    public var snapshotID: ID?
    public var snapshot: Snapshot
    public var parent: ID?
    public var warnings: [String]
    /// Worth telling but not a failure (a tar stream that stopped being one).
    public var notices: [String] = []
}

/// Turns file trees and streams into blobs, trees and a snapshot.
///
/// The walker (the caller's thread) lists folders and builds trees; a file pool reads and
/// chunks files in parallel; a blob pool hashes each chunk (keyed ID), looks it up, and only
/// if it is new compresses, seals and packs it. Files whose size, mtime, ctime and inode match
/// the parent snapshot reuse their blob list without being read; unchanged folders reuse their
/// tree blob.
public final class Archiver: @unchecked Sendable {
    let repo: Repository
    let options: BackupOptions
    public let progress: OperationProgress
    let names = NameCache()
    let pool: WorkerPool
    /// Reads, chunks and hashes whole files, one per core.
    let filePool: WorkerPool
    let excludes: ExcludeMatcher
    var summary = Snapshot.Summary()
    var warnings: [String] = []
    var notices: [String] = []
    /// The compression a stream arrived in and was stored without (`--decompress`).
    var decompressed: String?
    /// The source's saved keep policy, found with the parent and copied into the new snapshot.
    var retention: SavedPolicy?
    /// Dry run: blobs that would be added, and their plain bytes.
    let dryRunNew = Locked((seen: Set<ID>(), bytes: UInt64(0)))
    /// The partial-tree checkpoint: files this run has read, on their way to the upload
    /// journal, and whether an interrupted run of the same source left some to reuse.
    var source = ""
    var resuming = false
    let readFiles = Locked((files: [(path: [UInt8], node: Node)](), flushed: Timestamp.now()))
    /// The repository's write counters when this archiver started: a process that runs
    /// several backups on one repository (sources) reports each one's own additions.
    let statsAtStart: WriteStats

    deinit { pool.close(); filePool.close() }

    public init(repository: Repository, options: BackupOptions, progress: OperationProgress = OperationProgress()) {
        repo = repository; self.options = options; self.progress = progress
        statsAtStart = repository.writeStats
        let cores = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        pool = WorkerPool(threads: cores, limit: cores * 4)
        // More readers than cores: reading is partly waiting on the disk.
        filePool = WorkerPool(threads: cores * 2, limit: cores * 2)
        excludes = ExcludeMatcher(patterns: options.excludes)
    }

    // MARK: entry points

    /// Backs up paths. The root tree mirrors the absolute paths: /home/a becomes home/a.
    public func backup(paths: [String]) throws -> BackupResult {
        let start = Timestamp.now()
        var absolute = try paths.map { try Self.absolute($0) }
        // A path that does not exist (a typo, a disk not mounted) is left out with a warning;
        // when none exists there is nothing to save, and an empty snapshot would count towards
        // --keep-last and push real ones out, so none is saved (restic's rule).
        let missing = absolute.filter { p in let (st, e) = FS.lstat(p); return st == nil && (e == ENOENT || e == ENOTDIR) }
        if !missing.isEmpty {
            let names = missing.map { FS.string($0) }
            guard missing.count < absolute.count else {
                throw RepositoryError.invalidArgument("nothing to back up: \(names.count == 1 ? "the path \(names[0]) does not exist" : "none of the paths exist (\(names.joined(separator: ", ")))"); no snapshot was saved")
            }
            absolute.removeAll { missing.contains($0) }
            for n in names { warnings.append("\(n) does not exist (left out of the snapshot)") }
        }
        let display = absolute.map { FS.string($0) }.sorted()
        let parentID = try findParent(paths: display)
        let parentTree = try parentID.map { try repo.loadTree(try repo.loadSnapshot($0).treeID!) }
        source = options.hostname + "\n" + display.joined(separator: "\n")
        resuming = !options.force && !options.dryRun && (repo.journal?.hasFiles(source: source) ?? false)
        checkpointWithEveryPack()
        defer { repo.setPackStoredHook(nil) }
        Scanner.start(paths: absolute, excludes: excludes, oneFileSystem: options.oneFileSystem, progress: progress,
                      cancellation: repo.cancellation)
        let trie = PathTrie()
        for p in absolute { trie.insert(p.split(separator: 47).map(Array.init)) }
        let root = try guarded { try LargeStack.run { try buildVirtual(trie, path: [47], parent: parentTree, rootDevice: nil) } }
        return try finish(root: root, paths: display, parent: parentID, start: start)
    }

    /// Backs up a stream as one file node named `filename` in the root tree. A compressed
    /// stream is noticed (and with `decompress` stored decompressed, named without its suffix).
    public func backup(streamNamed filename: String, read source: (UnsafeMutableRawBufferPointer) throws -> Int) throws -> BackupResult {
        let start = Timestamp.now()
        var input: StreamInput
        do { input = try StreamInput(source: source, decompress: options.decompress) }
        catch let e as StreamDecompressionError { throw RepositoryError.invalidArgument("\(e)") }
        var filename = filename
        if let c = input.compression {
            if input.decompressing {
                filename = c.decompressedName(filename)
                decompressed = c.rawValue
            } else {
                notices.append("the stream is \(c.rawValue)-compressed, so versions will share little: "
                    + (c.canDecompress ? "give --decompress to store it decompressed (restored decompressed), or " : "")
                    + "have the tool write uncompressed output")
            }
        }
        let name = Array(filename.utf8)
        guard Node.isSafeName(name) else { throw RepositoryError.invalidArgument("--stdin-filename must be a plain file name without '/' (\(filename))") }
        let recorded = options.streamPath ?? filename
        let parentID = try findParent(paths: [recorded])
        let root = try guarded { () -> Tree in
            var node = Node(name: name, type: .file, mode: 0o644, uid: getuid(), gid: getgid(),
                            user: names.user(getuid()), group: names.group(getgid()))
            let now = (options.time ?? .now()).nanoseconds
            node.mtime = now; node.ctime = now
            var cutter = TarCutter(cdc: repo.cdc, format: options.streamFormat)
            let (ids, size): ([ID], UInt64)
            do { (ids, size) = try chunk(read: { try input.read($0, source: source) }, cutter: &cutter) }
            catch let e as StreamDecompressionError { throw RepositoryError.invalidArgument("\(e): no snapshot was saved") }
            if let n = cutter.notice { notices.append(n) }
            node.size = size; node.content = .chunks(ids)
            summary.bytesRead += size
            summary.filesNew += 1; summary.totalFiles += 1; summary.totalBytes += size
            return Tree(nodes: [node])
        }
        return try finish(root: root, paths: [recorded], parent: parentID, start: start)
    }

    // MARK: pipeline

    /// Runs `body`; on any failure, waits for the workers and writes the packs and index built
    /// so far, so an interrupted run's work is reused by the next one.
    func guarded<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            try? filePool.wait()
            try? pool.wait()
            if !options.dryRun { try? repo.flush() }
            flushReadFiles(force: true)
            throw error
        }
    }

    func finish(root: Tree, paths: [String], parent: ID?, start: Timestamp) throws -> BackupResult {
        let rootID = try guarded { () -> ID in
            let id = try storeTree(root)
            try pool.wait()
            if !options.dryRun { try repo.flush() }
            return id
        }
        let stats = repo.writeStats, base = statsAtStart
        summary.dataBlobs = stats.blobsAdded[0] - base.blobsAdded[0]; summary.treeBlobs = stats.blobsAdded[1] - base.blobsAdded[1]
        summary.bytesAdded = options.dryRun ? dryRunNew.withLock { $0.bytes } : stats.plainBytesAdded - base.plainBytesAdded
        summary.bytesStored = stats.storedBytesAdded - base.storedBytesAdded
        summary.errors = warnings.count
        summary.durationSeconds = Double(Timestamp.now().nanoseconds - start.nanoseconds) / 1e9
        var snap = Snapshot(time: options.time ?? start, tree: rootID, paths: paths, hostname: options.hostname,
                            username: Host.user, uid: getuid(), gid: getgid(), tags: options.tags, parent: parent,
                            excludes: options.excludes, programVersion: Repository.programVersion, summary: summary)
        snap.streamDecompressed = decompressed
        snap.retention = retention
        let id = options.dryRun ? nil : try repo.saveSnapshot(snap)
        if id != nil && !source.isEmpty { repo.journal?.forgetFiles(source: source) }
        return BackupResult(snapshotID: id, snapshot: snap, parent: parent, warnings: warnings, notices: notices)
    }

    /// The parent: the newest snapshot of the same host and paths. The saved policy of that
    /// source (the newest such snapshot's `retention`, spec §11.2) is carried forward too.
    func findParent(paths: [String]) throws -> ID? {
        let all = try repo.snapshots().snapshots
        let same = all.filter { $0.1.hostname == options.hostname && $0.1.paths.sorted() == paths.sorted() }
        retention = Retention.policyCarrier(same)?.1.retention
        if let p = options.parent { return p }
        guard !options.force else { return nil }
        return same.last?.0
    }

    func storeTree(_ tree: Tree) throws -> ID {
        var t = tree
        t.sort()
        let bytes = t.encode()
        if options.dryRun { return repo.blobID(bytes) }
        return try repo.saveBlob(.tree, bytes).id
    }

    func warn(_ e: Error) {
        warnings.append("\(e)")
        progress.update { $0.errors += 1 }
    }

    // MARK: walking

    func buildVirtual(_ trie: PathTrie, path: PathBytes, parent: Tree?, rootDevice: UInt64?) throws -> Tree {
        var nodes: [Node] = []
        for (name, child) in trie.children.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            let childPath = FS.join(path, name)
            let parentNode = parent?.node(named: name)
            if child.leaf {
                let group = DispatchGroup()
                if let a = try archive(name: name, path: childPath, parent: parentNode, rootDevice: nil, group: group) {
                    group.wait()
                    try filePool.check()
                    if let n = resolve(a) { nodes.append(n) }
                }
                continue
            }
            let (st, err) = FS.lstat(childPath)
            guard let st, var node = FS.node(name: name, path: childPath, st: st, names: names) else {
                warn(SourceError(path: childPath, errno: err, what: "stat")); continue
            }
            var parentSub: Tree? = nil
            if let p = parentNode, let subID = p.subtree { parentSub = try? repo.loadTree(subID) }
            let sub = try buildVirtual(child, path: childPath, parent: parentSub, rootDevice: nil)
            node.content = .subtree(try storeTree(sub))
            nodes.append(node)
        }
        return Tree(nodes: nodes)
    }

    /// A file being read by the file pool; the walker collects it once its folder's group is done.
    final class FileSlot: @unchecked Sendable {
        var node: Node
        let hadParent: Bool
        var ok = false
        var error: SourceError?
        init(node: Node, hadParent: Bool) { self.node = node; self.hadParent = hadParent }
    }

    enum Archived { case node(Node), file(FileSlot) }

    /// Turns a finished entry into its node, counting it (walker thread only).
    func resolve(_ a: Archived) -> Node? {
        switch a {
        case .node(let n): return n
        case .file(let slot):
            if let e = slot.error { warn(e); return nil }
            guard slot.ok else { return nil }
            summary.bytesRead += slot.node.size
            summary.totalBytes += slot.node.size
            if slot.hadParent { summary.filesChanged += 1 } else { summary.filesNew += 1 }
            return slot.node
        }
    }

    func archive(name: PathBytes, path: PathBytes, parent: Node?, rootDevice: UInt64?, group: DispatchGroup) throws -> Archived? {
        try repo.checkCancelled()
        let (st, err) = FS.lstat(path)
        guard let st else { warn(SourceError(path: path, errno: err, what: "stat")); return nil }
        guard var node = FS.node(name: name, path: path, st: st, names: names) else { return nil }
        switch node.type {
        case .file:
            progress.update { $0.files += 1; $0.current = FS.string(path) }
            summary.totalFiles += 1
            if !options.force, let p = parent, p.type == .file, p.size == node.size, p.mtime == node.mtime,
               p.ctime == node.ctime, p.inode == node.inode, p.flags & Node.flagDamaged == 0,
               p.chunks.allSatisfy({ repo.hasBlob(.data, $0) }) {
                node.content = p.content
                summary.filesUnmodified += 1
                summary.totalBytes += node.size
                progress.addBytes(Int(node.size))
                return .node(node)
            }
            if resuming, let r = repo.journal?.fileRead(source: source, path: path), r.type == .file,
               r.size == node.size, r.mtime == node.mtime, r.ctime == node.ctime, r.inode == node.inode,
               r.chunks.allSatisfy({ repo.hasBlob(.data, $0) }) {
                // Read by the interrupted run, and its blobs reached the store.
                node.content = r.content
                if parent?.type == .file { summary.filesChanged += 1 } else { summary.filesNew += 1 }
                summary.totalBytes += node.size
                progress.addBytes(Int(node.size))
                return .node(node)
            }
            let slot = FileSlot(node: node, hadParent: parent?.type == .file)
            group.enter()
            do {
                try filePool.submit { [self] in
                    defer { group.leave() }
                    try read(slot, path: path)
                }
            } catch { group.leave(); throw error }
            return .file(slot)
        case .directory:
            summary.dirs += 1
            progress.update { $0.dirs += 1 }
            let device = rootDevice ?? node.device
            var children: [Node] = []
            if !(options.oneFileSystem && node.device != device) {
                let parentTree: Tree? = parent?.type == .directory ? parent?.subtree.flatMap { try? repo.loadTree($0) } : nil
                let entries: [PathBytes]
                do { entries = try FS.list(path) } catch { warn(error); entries = [] }
                let mine = DispatchGroup()
                var pending: [Archived] = []
                for e in entries {
                    let childPath = FS.join(path, e)
                    if excludes.excluded(childPath, name: e) { continue }
                    if let c = try archive(name: e, path: childPath, parent: parentTree?.node(named: e), rootDevice: device, group: mine) {
                        pending.append(c)
                    }
                }
                mine.wait()
                try filePool.check()
                children = pending.compactMap { resolve($0) }
                // Entries come sorted from FS.list: an unchanged folder gives exactly the parent's
                // nodes, and reuses its tree blob without encoding or hashing it again.
                if let parentTree, let reused = parent?.subtree, parentTree.nodes == children {
                    node.content = .subtree(reused)
                    return .node(node)
                }
            }
            node.content = .subtree(try storeTree(Tree(nodes: children)))
        default:
            break
        }
        return .node(node)
    }

    /// Reads, chunks and hashes one file (on a file-pool thread). Problems with the file
    /// itself land in the slot; repository errors are thrown.
    func read(_ slot: FileSlot, path: PathBytes) throws {
        let fd = FS.withCString(path) { open($0, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC) }
        guard fd >= 0 else { slot.error = SourceError(path: path, errno: errno, what: "open"); return }
        defer { close(fd) }
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
        do {
            let (ids, size): ([ID], UInt64)
            if SparseFile.hasHoles(fd) {
                // Holes are zeros the disk need not give: not read, and cut without scanning.
                let sparse = SparseFile(fd: fd, path: path)
                (ids, size) = try chunk(read: { try sparse.read($0) }, zeros: { sparse.zeros(at: $0) })
            } else {
                (ids, size) = try chunk(read: { buf in
                    while true {
                        let n = Glibc.read(fd, buf.baseAddress, buf.count)
                        if n >= 0 { return n }
                        if errno != EINTR { throw SourceError(path: path, errno: errno, what: "read") }
                    }
                })
            }
            slot.node.content = .chunks(ids)
            slot.node.size = size
            slot.ok = true
            recordRead(path: path, node: slot.node)
        } catch let e as SourceError {
            slot.error = e
        }
    }

    /// Adds a file to the partial-tree checkpoint (written to the journal in batches).
    func recordRead(path: PathBytes, node: Node) {
        guard !options.dryRun, !source.isEmpty, repo.journal != nil else { return }
        readFiles.withLock { $0.files.append((path, node)) }
        flushReadFiles(force: false)
    }

    /// Writes the batch to the journal when it is big or a second old (or when forced).
    func flushReadFiles(force: Bool) {
        guard let journal = repo.journal else { return }
        Self.flush(readFiles, to: journal, source: source, force: force)
    }

    static func flush(_ readFiles: Locked<(files: [(path: [UInt8], node: Node)], flushed: Timestamp)>, to journal: Journal,
                      source: String, force: Bool) {
        let batch: [(path: [UInt8], node: Node)] = readFiles.withLock { r in
            let due = force || r.files.count >= 512 || Timestamp.now().nanoseconds - r.flushed.nanoseconds > 1_000_000_000
            guard due, !r.files.isEmpty else { return [] }
            let b = r.files; r.files = []; r.flushed = Timestamp.now(); return b
        }
        journal.filesRead(source: source, batch)
    }

    /// Makes the checkpoint deterministic: every file read before a pack was reported stored
    /// is in the journal by the time that pack is (so a run killed after N packs reuses at
    /// least the files whose blobs are in those N packs, whatever the timing).
    func checkpointWithEveryPack() {
        guard !options.dryRun, !source.isEmpty, let journal = repo.journal else { return }
        let files = readFiles, src = source
        repo.setPackStoredHook { Self.flush(files, to: journal, source: src, force: true) }
    }

    /// The IDs of one stream's chunks, filled in by workers in any order.
    final class ChunkIDs: Sendable {
        let ids = Locked([ID]())
    }

    /// Chunks a stream on this thread; each chunk goes to the pool, where it is hashed (keyed
    /// ID), looked up, and if new compressed, sealed and packed. IDs land in their slot, so the
    /// order is kept however the workers interleave. Waits for the stream's own jobs.
    /// With a `cutter`, cut points are its (a stream); without, plain FastCDC (a file).
    func chunk(read: (UnsafeMutableRawBufferPointer) throws -> Int) throws -> ([ID], UInt64) {
        var plain = TarCutter(cdc: repo.cdc, format: .raw)
        return try chunk(read: read, cutter: &plain)
    }

    func chunk(read: (UnsafeMutableRawBufferPointer) throws -> Int, cutter: inout TarCutter) throws -> ([ID], UInt64) {
        try chunk { (handle: (UnsafeRawBufferPointer, Bool) throws -> Void) in
            try StreamChunker(cdc: repo.cdc).run(cutter: &cutter, read: read) { try handle($0, false) }
        }
    }

    /// A file with holes: `zeros` tells which bytes are known zeros (SparseFile). Runs of
    /// zeros are cut without scanning and their ID computed once per length.
    func chunk(read: (UnsafeMutableRawBufferPointer) throws -> Int, zeros: (UInt64) -> UInt64) throws -> ([ID], UInt64) {
        try chunk { handle in try StreamChunker(cdc: repo.cdc).run(read: read, zeros: zeros, chunk: handle) }
    }

    /// `produce` calls its argument with each chunk in order, and whether it is all zeros.
    func chunk(_ produce: ((UnsafeRawBufferPointer, Bool) throws -> Void) throws -> Void) throws -> ([ID], UInt64) {
        var size: UInt64 = 0
        let repo = self.repo, dryRun = options.dryRun
        let list = ChunkIDs()
        let group = DispatchGroup()
        defer { group.wait() }   // on a throw, too: jobs still hold `list`
        var zeroIDs: [Int: ID] = [:]
        try produce { chunk, allZero in
            try repo.checkCancelled()
            if allZero {
                // The same zeros again: the same ID, and the first one's job stores the blob.
                if let id = zeroIDs[chunk.count] {
                    list.ids.withLock { $0.append(id) }
                    size += UInt64(chunk.count)
                    progress.addBytes(chunk.count)
                    return
                }
                zeroIDs[chunk.count] = repo.blobID(chunk)
            }
            let slot = list.ids.withLock { $0.append(.zero); return $0.count - 1 }
            size += UInt64(chunk.count)
            progress.addBytes(chunk.count)
            let bytes = Array(chunk)
            group.enter()
            do {
                try pool.submit { [self] in
                    defer { group.leave() }
                    try bytes.withUnsafeBytes { b in
                        let id = repo.blobID(b)
                        list.ids.withLock { $0[slot] = id }
                        guard !repo.hasBlob(.data, id) else { return }
                        if dryRun {
                            dryRunNew.withLock { if $0.seen.insert(id).inserted { $0.bytes += UInt64(b.count) } }
                        } else {
                            _ = try repo.saveBlob(.data, b, id: id)
                        }
                    }
                }
            } catch { group.leave(); throw error }
        }
        group.wait()
        try pool.check()
        return (list.ids.withLock { $0 }, size)
    }

    // MARK: paths

    static func absolute(_ p: String) throws -> PathBytes {
        var bytes = Array(p.utf8)
        guard !bytes.isEmpty else { throw RepositoryError.invalidArgument("empty path") }
        if bytes.first != 47 {
            var buf = [CChar](repeating: 0, count: 4096)
            guard getcwd(&buf, 4096) != nil else { throw RepositoryError.invalidArgument("cannot read the current directory") }
            bytes = Array(buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }) + [47] + bytes
        }
        var parts: [PathBytes] = []
        for c in bytes.split(separator: 47) {
            if c.elementsEqual([46]) { continue }
            if c.elementsEqual([46, 46]) { _ = parts.popLast(); continue }
            parts.append(Array(c))
        }
        guard !parts.isEmpty else { throw RepositoryError.invalidArgument("backing up / itself: name the folders below it instead") }
        return [47] + parts.joined(separator: [47])
    }
}

/// The absolute paths given to backup, as a tree of components.
final class PathTrie {
    var children: [PathBytes: PathTrie] = [:]
    var leaf = false

    func insert(_ components: [PathBytes]) {
        var node = self
        for c in components {
            if node.leaf { return }   // an ancestor is backed up whole
            if node.children[c] == nil { node.children[c] = PathTrie() }
            node = node.children[c]!
        }
        node.leaf = true
        node.children = [:]
    }
}
