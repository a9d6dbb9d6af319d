import CairnCore
import CairnFormat
import CairnRepository
internal import CPosix
#if canImport(Glibc)
import Glibc
#endif

public enum OverwritePolicy: String, Sendable, CaseIterable {
    case always, ifChanged = "if-changed", never
}

public struct RestoreOptions: Sendable {
    public var includes: [String] = []
    public var excludes: [String] = []
    public var overwrite = OverwritePolicy.always
    public var verify = false
    public init() {}
}

public struct RestoreResult: Sendable {
    public var files = 0
    public var dirs = 0
    public var bytes: UInt64 = 0
    public var skipped = 0
    public var verified = 0
    public var warnings: [String] = []
}

/// Writes a tree into a target folder.
///
/// Every file system call is relative to an open folder descriptor and refuses to follow
/// symlinks (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW), and every name is checked (no "/", NUL, "."
/// or ".."), so nothing is ever written outside the target, whatever the tree says.
/// All-zero chunks become holes. Folder times are set after their content.
public final class Restorer {
    let repo: Repository
    let options: RestoreOptions
    public let progress: OperationProgress
    let isRoot = geteuid() == 0
    var hardlinks: [String: PathBytes] = [:]   // "dev:inode" → path relative to the target
    var result = RestoreResult()
    var pending: [PendingFile] = []
    let includes: ExcludeMatcher
    let excludes: ExcludeMatcher
    var rootFD: Int32 = -1

    public init(repository: Repository, options: RestoreOptions, progress: OperationProgress = OperationProgress()) {
        repo = repository; self.options = options; self.progress = progress
        includes = ExcludeMatcher(patterns: options.includes)
        excludes = ExcludeMatcher(patterns: options.excludes)
    }

    /// Restores `node` (a file or a folder) into `target`; a folder's content goes directly
    /// into the target.
    public func restore(node: Node, displayPath: PathBytes, target: String) throws -> RestoreResult {
        let t = Array(target.utf8)
        if mkdir(target, 0o700) != 0 && errno != EEXIST { throw SourceError(path: t, errno: errno, what: "create target") }
        rootFD = FS.withCString(t) { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard rootFD >= 0 else { throw SourceError(path: t, errno: errno, what: "open target") }
        defer { close(rootFD) }
        defer { for f in pending { close(f.fd) }; pending = [] }
        if node.type == .directory, let sub = node.subtree {
            try restoreTree(sub, dirFD: rootFD, rel: [], display: displayPath)
        } else {
            try restoreNode(node, dirFD: rootFD, rel: [], display: FS.join(displayPath, node.name))
        }
        try flushWindow()
        return result
    }

    func wanted(_ display: PathBytes, _ node: Node) -> Bool {
        if excludes.excluded(display, name: node.name) { return false }
        if includes.patterns.isEmpty || node.type == .directory { return true }
        return includes.excluded(display, name: node.name)
    }

    func warn(_ s: String) { result.warnings.append(s); progress.update { $0.errors += 1 } }

    func restoreTree(_ id: ID, dirFD: Int32, rel: PathBytes, display: PathBytes) throws {
        let tree: Tree
        do { tree = try repo.loadTree(id) } catch { warn("tree \(id.short) at \(FS.string(display)): \(error)"); return }
        for node in tree.nodes {
            if Cancellation.requested { throw RepositoryError.interrupted }
            guard Node.isSafeName(node.name) else {
                warn("refusing unsafe name \(String(reflecting: node.nameString)) in \(FS.string(display))"); continue
            }
            let d = FS.join(display, node.name)
            guard wanted(d, node) else { continue }
            try restoreNode(node, dirFD: dirFD, rel: FS.join(rel, node.name), display: d)
        }
    }

    func restoreNode(_ node: Node, dirFD: Int32, rel: PathBytes, display: PathBytes) throws {
        let name = node.name
        switch node.type {
        case .directory:
            let created = FS.withCString(name) { mkdirat(dirFD, $0, 0o700) } == 0
            if !created && errno != EEXIST { warn("mkdir \(FS.string(display)): \(String(cString: strerror(errno)))"); return }
            let fd = FS.withCString(name) { openat(dirFD, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            guard fd >= 0 else { warn("open \(FS.string(display)): \(String(cString: strerror(errno))) (not a folder, or a symlink: not followed)"); return }
            defer { close(fd) }
            if let sub = node.subtree { try restoreTree(sub, dirFD: fd, rel: rel, display: display) }
            result.dirs += 1
            progress.update { $0.dirs += 1 }
            applyMetadata(node, fd: fd, dirFD: dirFD)
        case .file:
            try restoreFile(node, dirFD: dirFD, rel: rel, display: display)
        case .symlink:
            if !prepareReplace(node, dirFD: dirFD, display: display) { return }
            guard FS.withCString(node.linkTarget, { t in FS.withCString(name) { symlinkat(t, dirFD, $0) } }) == 0 else {
                warn("symlink \(FS.string(display)): \(String(cString: strerror(errno)))"); return
            }
            applyMetadata(node, fd: -1, dirFD: dirFD)
            result.files += 1
        case .fifo, .charDevice, .blockDevice, .socket:
            if node.type == .socket { return }
            if node.type != .fifo && !isRoot { warn("skipping device \(FS.string(display)): restoring devices needs root"); return }
            if !prepareReplace(node, dirFD: dirFD, display: display) { return }
            let kind: mode_t = node.type == .fifo ? S_IFIFO : node.type == .charDevice ? S_IFCHR : S_IFBLK
            guard FS.withCString(name, { mknodat(dirFD, $0, kind | 0o600, dev_t(node.rdev)) }) == 0 else {
                warn("mknod \(FS.string(display)): \(String(cString: strerror(errno)))"); return
            }
            applyMetadata(node, fd: -1, dirFD: dirFD)
            result.files += 1
        }
    }

    /// Applies the overwrite policy to whatever exists at the name. Returns false to skip.
    func prepareReplace(_ node: Node, dirFD: Int32, display: PathBytes) -> Bool {
        var st = Glibc.stat()
        guard FS.withCString(node.name, { fstatat(dirFD, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0 else { return true }
        switch options.overwrite {
        case .never: result.skipped += 1; return false
        case .ifChanged:
            if node.type == .file, st.st_mode & S_IFMT == S_IFREG, UInt64(st.st_size) == node.size,
               Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec) == node.mtime {
                result.skipped += 1; progress.addBytes(Int(node.size)); return false
            }
            fallthrough
        case .always:
            if st.st_mode & S_IFMT == S_IFDIR { warn("not replacing folder \(FS.string(display)) with a \(node.type)"); return false }
            _ = FS.withCString(node.name) { unlinkat(dirFD, $0, 0) }
            return true
        }
    }

    func restoreFile(_ node: Node, dirFD: Int32, rel: PathBytes, display: PathBytes) throws {
        if !prepareReplace(node, dirFD: dirFD, display: display) { return }
        if node.links > 1 {
            let key = "\(node.device):\(node.inode)"
            if let first = hardlinks[key] {
                if FS.withCString(first, { f in FS.withCString(node.name) { linkat(rootFD, f, dirFD, $0, 0) } }) == 0 {
                    result.files += 1; return
                }
            } else {
                hardlinks[key] = rel
            }
        }
        progress.update { $0.files += 1; $0.current = FS.string(display) }
        let fd = FS.withCString(node.name) { openat(dirFD, $0, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600) }
        guard fd >= 0 else { warn("create \(FS.string(display)): \(String(cString: strerror(errno)))"); return }
        pending.append(PendingFile(fd: fd, node: node, display: display))
        if pending.count >= Self.windowFiles { try flushWindow() }
    }

    /// Files in flight at once (each holds an open descriptor).
    static let windowFiles = 512

    /// Writes the content of the pending files (see RestoreWindow), then truncates, verifies,
    /// applies metadata and closes each.
    func flushWindow() throws {
        guard !pending.isEmpty else { return }
        let files = pending
        pending = []
        defer { for f in files { close(f.fd) } }
        let window = RestoreWindow(repo: repo, progress: progress)
        let (sizes, outcome) = window.run(fds: files.map(\.fd), chunks: files.map(\.node.chunks), names: files.map { FS.string($0.display) })
        for w in outcome.warnings { warn(w) }
        if Cancellation.requested { throw RepositoryError.interrupted }
        for (i, f) in files.enumerated() {
            if ftruncate(f.fd, sizes[i]) != 0 { throw SourceError(path: f.display, errno: errno, what: "truncate") }
            result.bytes += UInt64(sizes[i])
            result.files += 1
            if options.verify && !outcome.damaged.contains(i) {
                if verifyFile(fd: f.fd, node: f.node) { result.verified += 1 }
                else { warn("verify: \(FS.string(f.display)) does not match the snapshot") }
            }
            applyMetadata(f.node, fd: f.fd, dirFD: -1)
        }
    }

    static func isZero(_ d: [UInt8]) -> Bool {
        d.withUnsafeBytes { b -> Bool in
            var i = 0
            let n = b.count
            while i + 8 <= n { if b.loadUnaligned(fromByteOffset: i, as: UInt64.self) != 0 { return false }; i += 8 }
            while i < n { if b[i] != 0 { return false }; i += 1 }
            return true
        }
    }

    /// Re-reads the written file and checks every chunk's keyed ID.
    func verifyFile(fd: Int32, node: Node) -> Bool {
        var offset = 0
        for id in node.chunks {
            guard let loc = repo.lookup(.data, id) else { return false }
            let n = Int(loc.entry.plainLength)
            var buf = [UInt8](repeating: 0, count: n)
            var done = 0
            while done < n {
                let r = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, n - done, offset + done) }
                if r <= 0 { return false }
                done += r
            }
            if repo.blobID(buf) != id { return false }
            offset += n
        }
        var st = Glibc.stat()
        return fstat(fd, &st) == 0 && st.st_size == offset
    }

    /// Owner (as root), mode, xattrs, then times. `fd` < 0: by name, without following links.
    func applyMetadata(_ node: Node, fd: Int32, dirFD: Int32) {
        let name = node.name
        if isRoot {
            let r = fd >= 0 ? fchown(fd, node.uid, node.gid)
                : FS.withCString(name) { fchownat(dirFD, $0, node.uid, node.gid, AT_SYMLINK_NOFOLLOW) }
            if r != 0 { warn("chown \(node.nameString): \(String(cString: strerror(errno)))") }
        }
        if node.type != .symlink {
            let r = fd >= 0 ? fchmod(fd, mode_t(node.mode)) : FS.withCString(name) { fchmodat(dirFD, $0, mode_t(node.mode), 0) }
            if r != 0 { warn("chmod \(node.nameString): \(String(cString: strerror(errno)))") }
        }
        if fd >= 0 {
            for x in node.xattrs {
                let r = FS.withCString(x.name) { n in x.value.withUnsafeBytes { fsetxattr(fd, n, $0.baseAddress, x.value.count, 0) } }
                if r != 0 { warn("xattr \(String(decoding: x.name, as: UTF8.self)) on \(node.nameString): \(String(cString: strerror(errno)))") }
            }
        }
        // atime is not stored; it is set to mtime. Floor division keeps pre-1970 times valid.
        let t = Timestamp(nanoseconds: node.mtime)
        let ts = timespec(tv_sec: Int(t.seconds), tv_nsec: Int(t.subsecondNanos))
        var times = [ts, ts]
        let r = fd >= 0 ? futimens(fd, &times) : FS.withCString(name) { utimensat(dirFD, $0, &times, AT_SYMLINK_NOFOLLOW) }
        if r != 0 { warn("times \(node.nameString): \(String(cString: strerror(errno)))") }
    }
}
