import CairnCore
import CairnFormat
import CairnRepository
import CairnTree
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
    /// Restore even when the target's file system has less free space than the files need.
    public var force = false
    public init() {}
}

/// Why a restore stopped before the end.
public enum RestoreError: Error, Sendable, CustomStringConvertible {
    /// The files to restore need more than the target's file system has free (checked first).
    case insufficientSpace(needed: UInt64, available: UInt64, target: String)
    /// The target's file system filled during the restore: what was restored by then.
    case targetFull(files: Int, bytes: UInt64, target: String)

    public var description: String {
        switch self {
        case .insufficientSpace(let n, let a, let t):
            return "the files to restore need \(Self.mib(n)) but \(t) has \(Self.mib(a)) free: nothing was written. "
                + "Free space, restore less (a path, --include), or pass --force to try anyway"
        case .targetFull(let f, let b, let t):
            return "no space left on the file system of \(t): restore stopped after \(f) complete file(s), \(Self.mib(b)); "
                + "the file being written when it filled is incomplete. Free space and restore again (--overwrite if-changed keeps what is done)"
        }
    }

    static func mib(_ n: UInt64) -> String {
        let tenths = UInt64((Double(n) / Double(1 << 20) * 10).rounded())
        return "\(tenths / 10).\(tenths % 10) MiB"
    }
}

public struct RestoreResult: Sendable {
    public var files = 0
    public var dirs = 0
    public var bytes: UInt64 = 0
    public var skipped = 0
    public var verified = 0
    public var warnings: [String] = []
    /// Entries a repair marked damaged (flag bit 0): restored with what was salvaged.
    public var markedDamaged: [String] = []
}

/// Writes a tree into a target folder.
///
/// The tree may come from a damaged or hostile repository, so nothing in it is trusted
/// (format-spec §10.3):
/// - every name is checked (not empty, ".", "..", no "/" or NUL); unsafe entries are skipped
///   with a warning;
/// - every file system call is relative to an open folder descriptor and never follows a
///   symlink (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW): a symlink in the way of a folder or file is
///   replaced (or, with `--overwrite never`, left alone), never written through;
/// - hard links are made only to files this run created, through folders opened the same way,
///   and checked to be that file afterwards;
/// - devices are created only by root; a tree that contains itself, or is nested deeper than
///   `maxDepth`, is cut there;
/// - a file's content and length are what its chunks give; the recorded size is only compared.
/// All-zero chunks become holes. Folder times are set after their content.
public final class Restorer {
    let repo: Repository
    let options: RestoreOptions
    public let progress: OperationProgress
    /// Devices are restored only by root. Internal and settable for tests.
    var isRoot = geteuid() == 0
    /// The first restored file of each hard link group ("dev:inode").
    var hardlinks: [String: LinkedFile] = [:]
    struct LinkedFile {
        var rel: PathBytes      // path relative to the target, "/"-separated safe names
        var device: UInt64      // of the file created (st_dev, st_ino)
        var inode: UInt64
        var chunks: [ID]
    }
    /// Trees on the path being restored (a tree that contains itself is a cycle).
    var ancestors = Set<ID>()
    /// Deeper than any path the archiver can back up (PATH_MAX), shallow enough for the stack.
    static let maxDepth = 2048
    var depth = 0
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
        if !options.force {
            let needed = try plannedBytes(node, display: displayPath)
            var fs = statvfs()
            if fstatvfs(rootFD, &fs) == 0 {
                let free = UInt64(fs.f_bavail) * UInt64(fs.f_frsize)
                if needed > free { throw RestoreError.insufficientSpace(needed: needed, available: free, target: target) }
            }
        }
        self.target = target
        if node.type == .directory, let sub = node.subtree {
            try LargeStack.run { try restoreTree(sub, dirFD: rootFD, rel: [], display: displayPath) }
        } else if !Node.isSafeName(node.name) {
            warn(unsafeName(node.name, in: displayPath))
        } else {
            try restoreNode(node, dirFD: rootFD, rel: node.name, display: displayPath.isEmpty ? node.name : displayPath)
        }
        try flushWindow()
        // An include that matched nothing is almost always a mistyped path: say so rather than
        // report a restore of nothing as a success.
        for (i, p) in includes.patterns.enumerated() where !includeHits.contains(i) {
            warn("--include \(FS.shown(p)) matched nothing in \(displayPath.isEmpty ? "the snapshot" : FS.shown(displayPath)) (patterns match the paths `cairn ls` prints, such as /home/me/file.txt, or a name such as *.txt)")
        }
        return result
    }

    /// Patterns match the path as recorded in the snapshot and as `ls` and `find` print it
    /// (absolute: "/home/me/docs/file3.txt"), as backup's `--exclude` does, whether or not the
    /// restore started below the root (`latest:/home/me`, `latest:home/me`).
    func wanted(_ display: PathBytes, _ node: Node) -> Bool {
        let path = display.first == 47 ? display : [47] + display
        if excludes.excluded(path, name: node.name) { return false }
        if includes.patterns.isEmpty || node.type == .directory { return true }
        guard let i = includes.firstMatch(selfOrAncestorOf: path) else { return false }
        includeHits.insert(i)
        return true
    }
    /// The include patterns that matched something.
    var includeHits = Set<Int>()
    var target = ""

    /// The bytes of the regular files a restore of `node` writes (with the patterns): what
    /// the target's file system must have free. Trees are walked as the restore walks them;
    /// a file counts what its chunks hold (their plain lengths in the index), never the size
    /// the tree records, which a damaged or hostile repository may get wrong.
    func plannedBytes(_ node: Node, display: PathBytes) throws -> UInt64 {
        func content(_ n: Node) -> UInt64 {
            n.chunks.reduce(UInt64(0)) { $0 &+ UInt64(repo.lookup(.data, $1)?.entry.plainLength ?? 0) }
        }
        guard node.type == .directory, let root = node.subtree else { return node.type == .file ? content(node) : 0 }
        let patterns = !includes.patterns.isEmpty || !excludes.patterns.isEmpty
        var memo: [ID: UInt64] = [:]
        var linked = Set<String>()   // a hard-linked file is written once
        func size(_ id: ID, _ display: PathBytes, _ depth: Int) -> UInt64 {
            if !patterns, let m = memo[id] { return m }
            guard depth < Self.maxDepth, let tree = try? repo.loadTree(id) else { return 0 }
            var total: UInt64 = 0
            for n in tree.nodes where Node.isSafeName(n.name) {
                let d = FS.join(display, n.name)
                guard wanted(d, n) else { continue }
                if n.type == .file, n.links <= 1 || linked.insert("\(n.device):\(n.inode)").inserted { total &+= content(n) }
                else if n.type == .directory, let sub = n.subtree { total &+= size(sub, d, depth + 1) }
            }
            if !patterns { memo[id] = total }
            return total
        }
        let total = try LargeStack.run { size(root, display, 0) }
        includeHits = []   // counted again by the restore itself
        return total
    }

    func warn(_ s: String) { result.warnings.append(s); progress.update { $0.errors += 1 } }

    /// A path for messages (escaped, see FS.shown); the target itself is ".".
    func shown(_ display: PathBytes) -> String { display.isEmpty ? "." : FS.shown(display) }
    func errnoText() -> String { String(cString: strerror(errno)) }

    func unsafeName(_ name: PathBytes, in display: PathBytes) -> String {
        "\(shown(display)): skipping entry with unsafe name \"\(FS.shown(name))\" (empty, \".\", \"..\", or containing \"/\" or NUL)"
    }

    func restoreTree(_ id: ID, dirFD: Int32, rel: PathBytes, display: PathBytes) throws {
        guard !ancestors.contains(id) else {
            warn("\(shown(display)): tree \(id.short) contains itself (a cycle): nothing below this folder is restored"); return
        }
        guard depth < Self.maxDepth else {
            warn("\(shown(display)): folders nested deeper than \(Self.maxDepth) levels: nothing below this folder is restored"); return
        }
        let tree: Tree
        do { tree = try repo.loadTree(id) } catch { warn("tree \(id.short) at \(shown(display)): \(error)"); return }
        ancestors.insert(id); depth += 1
        defer { ancestors.remove(id); depth -= 1 }
        for node in tree.nodes {
            try repo.checkCancelled()
            guard Node.isSafeName(node.name) else { warn(unsafeName(node.name, in: display)); continue }
            let d = FS.join(display, node.name)
            guard wanted(d, node) else { continue }
            try restoreNode(node, dirFD: dirFD, rel: FS.join(rel, node.name), display: d)
        }
    }

    func restoreNode(_ node: Node, dirFD: Int32, rel: PathBytes, display: PathBytes) throws {
        let name = node.name
        if node.flags & 1 != 0 { result.markedDamaged.append(shown(display)) }
        switch node.type {
        case .directory:
            guard let fd = openFolder(node, dirFD: dirFD, display: display) else { return }
            defer { close(fd) }
            if let sub = node.subtree { try restoreTree(sub, dirFD: fd, rel: rel, display: display) }
            result.dirs += 1
            progress.update { $0.dirs += 1 }
            applyMetadata(node, fd: fd, dirFD: dirFD, display: display)
        case .file:
            try restoreFile(node, dirFD: dirFD, rel: rel, display: display)
        case .symlink:
            // The target is data: stored as given (absolute or with "..") and never followed here.
            guard !node.linkTarget.isEmpty, !node.linkTarget.contains(0) else {
                warn("\(shown(display)): skipping symlink with an empty target or a NUL in it: \"\(FS.shown(node.linkTarget))\""); return
            }
            if !prepareReplace(node, dirFD: dirFD, display: display) { return }
            guard FS.withCString(node.linkTarget, { t in FS.withCString(name) { symlinkat(t, dirFD, $0) } }) == 0 else {
                warn("symlink \(shown(display)): \(errnoText())"); return
            }
            applyMetadata(node, fd: -1, dirFD: dirFD, display: display)
            result.files += 1
        case .fifo, .charDevice, .blockDevice, .socket:
            if node.type == .socket { return }   // a socket is made by its server; there is nothing to restore
            if node.type != .fifo && !isRoot {
                warn("\(shown(display)): skipping \(node.type == .charDevice ? "character" : "block") device (only root restores devices)"); return
            }
            if !prepareReplace(node, dirFD: dirFD, display: display) { return }
            let kind: mode_t = node.type == .fifo ? S_IFIFO : node.type == .charDevice ? S_IFCHR : S_IFBLK
            guard FS.withCString(name, { mknodat(dirFD, $0, kind | 0o600, dev_t(node.type == .fifo ? 0 : node.rdev)) }) == 0 else {
                warn("mknod \(shown(display)): \(errnoText())"); return
            }
            applyMetadata(node, fd: -1, dirFD: dirFD, display: display)
            result.files += 1
        }
    }

    /// Creates the folder at the node's name, or reuses a folder already there, and opens it
    /// without following symlinks. Anything else in the way (a file, or a symlink, wherever it
    /// points) is removed first, unless `--overwrite never`, which leaves it and skips the
    /// folder's content. Returns nil (after a warning) when the folder cannot be used.
    func openFolder(_ node: Node, dirFD: Int32, display: PathBytes) -> Int32? {
        let name = node.name
        if FS.withCString(name, { mkdirat(dirFD, $0, 0o700) }) != 0 {
            guard errno == EEXIST else { warn("mkdir \(shown(display)): \(errnoText())"); return nil }
            var st = Glibc.stat()
            if FS.withCString(name, { fstatat(dirFD, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0, st.st_mode & S_IFMT != S_IFDIR {
                let what = st.st_mode & S_IFMT == S_IFLNK ? "symlink" : "non-folder"
                if options.overwrite == .never {
                    result.skipped += 1
                    warn("\(shown(display)): a \(what) is in the way of a folder and --overwrite never keeps it: the folder's content is not restored")
                    return nil
                }
                guard FS.withCString(name, { unlinkat(dirFD, $0, 0) }) == 0, FS.withCString(name, { mkdirat(dirFD, $0, 0o700) }) == 0 else {
                    warn("\(shown(display)): cannot replace the \(what) in the way of a folder: \(errnoText())"); return nil
                }
            }
        }
        let fd = FS.withCString(name) { openat(dirFD, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { warn("open folder \(shown(display)): \(errnoText()) (a symlink is never followed)"); return nil }
        return fd
    }

    /// Applies the overwrite policy to whatever exists at the name. Returns false to skip.
    func prepareReplace(_ node: Node, dirFD: Int32, display: PathBytes) -> Bool {
        var st = Glibc.stat()
        guard FS.withCString(node.name, { fstatat(dirFD, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0 else { return true }
        switch options.overwrite {
        case .never: result.skipped += 1; return false
        case .ifChanged:
            if node.type == .file, st.st_mode & S_IFMT == S_IFREG, UInt64(st.st_size) == node.size,
               Timestamp.nanoseconds(seconds: Int64(st.st_mtim.tv_sec), nanos: Int64(st.st_mtim.tv_nsec)) == node.mtime {
                result.skipped += 1; progress.addBytes(Int(node.size)); return false
            }
            fallthrough
        case .always:
            if st.st_mode & S_IFMT == S_IFDIR { warn("not replacing folder \(shown(display)) with a \(node.type)"); return false }
            _ = FS.withCString(node.name) { unlinkat(dirFD, $0, 0) }
            return true
        }
    }

    func restoreFile(_ node: Node, dirFD: Int32, rel: PathBytes, display: PathBytes) throws {
        if !prepareReplace(node, dirFD: dirFD, display: display) { return }
        let key = node.links > 1 ? "\(node.device):\(node.inode)" : nil
        if let key, let first = hardlinks[key] {
            if first.chunks != node.chunks {
                warn("\(shown(display)): hard link to \(shown(first.rel)) with different content in the snapshot: restored as a separate file")
            } else if link(to: first, name: node.name, dirFD: dirFD) {
                result.files += 1; return
            }
        }
        progress.update { $0.files += 1; $0.current = FS.shown(display) }
        let fd = FS.withCString(node.name) { openat(dirFD, $0, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600) }
        guard fd >= 0 else { warn("create \(shown(display)): \(errnoText())"); return }
        if let key, hardlinks[key] == nil {
            var st = Glibc.stat()
            if fstat(fd, &st) == 0 {
                hardlinks[key] = LinkedFile(rel: rel, device: UInt64(st.st_dev), inode: UInt64(st.st_ino), chunks: node.chunks)
            }
        }
        pending.append(PendingFile(fd: fd, node: node, display: display))
        if pending.count >= Self.windowFiles { try flushWindow() }
    }

    /// Hard-links `name` to a file this run created. The folders on its path are opened one by
    /// one without following symlinks, and the new link must be that very file (device and
    /// inode), so a link never reaches outside the target even if the tree changed meanwhile.
    /// False: the caller restores the content as a separate file.
    func link(to first: LinkedFile, name: PathBytes, dirFD: Int32) -> Bool {
        var parts = first.rel.split(separator: 47).map(Array.init)
        guard let last = parts.popLast() else { return false }
        var fd = rootFD
        defer { if fd != rootFD { close(fd) } }
        for p in parts {
            let next = FS.withCString(p) { openat(fd, $0, cposix_o_path | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            if fd != rootFD { close(fd) }
            fd = next
            guard next >= 0 else { fd = rootFD; return false }
        }
        guard FS.withCString(last, { l in FS.withCString(name) { linkat(fd, l, dirFD, $0, 0) } }) == 0 else { return false }
        var st = Glibc.stat()
        if FS.withCString(name, { fstatat(dirFD, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0,
           UInt64(st.st_dev) == first.device, UInt64(st.st_ino) == first.inode { return true }
        _ = FS.withCString(name) { unlinkat(dirFD, $0, 0) }
        return false
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
        let (sizes, outcome) = window.run(fds: files.map(\.fd), chunks: files.map(\.node.chunks), names: files.map { FS.shown($0.display) })
        for w in outcome.warnings { warn(w) }
        try repo.checkCancelled()
        for (i, f) in files.enumerated() {
            if let e = outcome.writeFailed[i] {
                warn("\(shown(f.display)): not restored completely: \(e)")
                continue
            }
            if outcome.full { continue }   // not finished: the window stopped when the disk filled
            // The length is what the chunks give; the recorded size is only compared with it,
            // never used to extend or reserve space.
            if ftruncate(f.fd, off_t(sizes[i])) != 0 { warn("\(shown(f.display)): cannot set its length to \(sizes[i]): \(errnoText())") }
            else if !outcome.damaged.contains(i) && UInt64(sizes[i]) != f.node.size {
                warn("\(shown(f.display)): the snapshot records \(f.node.size) bytes but its chunks hold \(sizes[i]): restored the \(sizes[i]) bytes of the chunks")
            }
            result.bytes += UInt64(sizes[i])
            result.files += 1
            if options.verify && !outcome.damaged.contains(i) {
                if verifyFile(fd: f.fd, node: f.node) { result.verified += 1 }
                else { warn("verify: \(shown(f.display)) does not match the snapshot") }
            }
            applyMetadata(f.node, fd: f.fd, dirFD: -1, display: f.display)
        }
        if outcome.full { throw RestoreError.targetFull(files: result.files, bytes: result.bytes, target: target) }
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
    func applyMetadata(_ node: Node, fd: Int32, dirFD: Int32, display: PathBytes) {
        let name = node.name
        if isRoot {
            let r = fd >= 0 ? fchown(fd, node.uid, node.gid)
                : FS.withCString(name) { fchownat(dirFD, $0, node.uid, node.gid, AT_SYMLINK_NOFOLLOW) }
            if r != 0 { warn("chown \(shown(display)): \(errnoText())") }
        }
        if node.type != .symlink {
            let mode = mode_t(node.mode & 0o7777)
            let r = fd >= 0 ? fchmod(fd, mode) : chmodNoFollow(name, dirFD: dirFD, mode: mode)
            if r != 0 { warn("chmod \(shown(display)): \(errnoText())") }
        }
        if fd >= 0 {
            for x in node.xattrs {
                let r = FS.withCString(x.name) { n in x.value.withUnsafeBytes { fsetxattr(fd, n, $0.baseAddress, x.value.count, 0) } }
                if r != 0 { warn("xattr \(FS.shown(x.name)) on \(shown(display)): \(errnoText())") }
            }
        }
        // atime is not stored; it is set to mtime. Floor division keeps pre-1970 times valid.
        let t = Timestamp(nanoseconds: node.mtime)
        let ts = timespec(tv_sec: Int(t.seconds), tv_nsec: Int(t.subsecondNanos))
        var times = [ts, ts]
        let r = fd >= 0 ? futimens(fd, &times) : FS.withCString(name) { utimensat(dirFD, $0, &times, AT_SYMLINK_NOFOLLOW) }
        if r != 0 { warn("times \(shown(display)): \(errnoText())") }
    }

    /// chmod of a fifo or device by name that never follows a symlink: glibc's
    /// AT_SYMLINK_NOFOLLOW (through /proc); where that is unavailable, only after checking
    /// that the name is not a symlink.
    func chmodNoFollow(_ name: PathBytes, dirFD: Int32, mode: mode_t) -> Int32 {
        if FS.withCString(name, { fchmodat(dirFD, $0, mode, AT_SYMLINK_NOFOLLOW) }) == 0 { return 0 }
        guard errno == EOPNOTSUPP || errno == ENOTSUP || errno == ENOENT else { return -1 }
        var st = Glibc.stat()
        guard FS.withCString(name, { fstatat(dirFD, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0 else { return -1 }
        guard st.st_mode & S_IFMT != S_IFLNK else { errno = ELOOP; return -1 }
        return FS.withCString(name) { fchmodat(dirFD, $0, mode, 0) }
    }
}
