import CairnCore
import CairnFormat
import CairnRepository
import CairnTree
internal import CPosix
#if canImport(Glibc)
import Glibc
#endif

/// Unpacks the members of a tar stream into a target folder (`restore --from-stream`).
///
/// The stream is untrusted input, so the restorer's rules apply (format-spec §10.3, §13.5), and
/// its own code does the work: every call is relative to an open folder descriptor and never
/// follows a symlink. On top of them, a member path is made safe as GNU tar makes it:
/// - a leading "/" is removed (with a note), "." and empty components are dropped;
/// - a path with a ".." component is skipped with a warning;
/// - the folders on a member's path are opened one by one without following symlinks and
///   created when missing; a symlink or file in the way of one (even one this stream just
///   created) is never followed or removed: the member is skipped with a warning;
/// - a hard link is made only to a file this run created, and checked to be that file; when
///   its target was not extracted (outside the chosen folder, excluded) but is a file member
///   before it, it gets a copy of that member's data;
/// - devices only as root; folders get their mode and times after their content.
public final class TarExtractor {
    let stream: TarStream
    /// The restorer whose checks and file system calls this uses; its result is the outcome.
    let restorer: Restorer
    public var progress: OperationProgress { restorer.progress }
    public private(set) var notes: [String] = []
    /// Files this run created, by path relative to the target (for hard links).
    var created: [PathBytes: Restorer.LinkedFile] = [:]
    /// For hard links: the member whose data each path in the stream has so far (a file
    /// member, or the one a hard link names); none once a member there failed or replaced it.
    var seen: [[PathBytes]: TarMember] = [:]
    /// Folders this run created or reused, finished (mode, times) at the end, last first.
    var folders: [(rel: [PathBytes], node: Node, display: PathBytes)] = []
    /// The folder the last member went into, kept open.
    var parent: (rel: [PathBytes], fd: Int32)?
    var notedAbsolute = false

    public init(stream: TarStream, repository: Repository, options: RestoreOptions, progress: OperationProgress = OperationProgress()) {
        self.stream = stream
        restorer = Restorer(repository: repository, options: options, progress: progress)
    }

    /// Extracts the members at or below `inner` (components of a path in the stream) into
    /// `target`; `inner` itself becomes the target, as `restore SNAPSHOT:PATH` does.
    public func extract(under inner: [PathBytes], target: String) throws -> RestoreResult {
        let t = Array(target.utf8)
        if mkdir(target, 0o700) != 0 && errno != EEXIST { throw SourceError(path: t, errno: errno, what: "create target") }
        restorer.rootFD = FS.withCString(t) { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard restorer.rootFD >= 0 else { throw SourceError(path: t, errno: errno, what: "open target") }
        defer { close(restorer.rootFD) }
        defer { if let p = parent, p.fd != restorer.rootFD { close(p.fd) }; parent = nil }
        var reader = TarMemberReader(stream.reader)
        var matched = inner.isEmpty
        do {
            while let m = try reader.next() {
                try restorer.repo.checkCancelled()
                if try extract(m, under: inner) { matched = true }
            }
        } catch RepositoryError.interrupted {
            throw RepositoryError.interrupted
        } catch {
            restorer.warn("the stream cannot be read after byte \(reader.offset): \(error)")
        }
        for w in reader.warnings + reader.errors { restorer.warn(w) }
        finishFolders()
        if !matched { restorer.warn("\(FS.shown(inner.joined(separator: [0x2F]).map { $0 })) is not a member of the tar stream") }
        return restorer.result
    }

    /// Extracts one member when it is at or below `inner`; true when it is.
    func extract(_ m: TarMember, under inner: [PathBytes]) throws -> Bool {
        let path = TarPath.normalize(m.path)
        let display = path.joined
        // A file member stays a hard link's source unless it failed or a later member replaced it.
        if !path.unsafe { seen[path.components] = nil }
        guard path.components.starts(with: inner) else {
            if !path.unsafe { seen[path.components] = source(m) }
            return false
        }
        if path.unsafe {
            restorer.warn("\(FS.shown(m.path)): skipping member with \"..\" (or a NUL) in its path"); return true
        }
        if path.wasAbsolute && !notedAbsolute {
            notedAbsolute = true; notes.append("removing leading \"/\" from member names (as GNU tar does)")
        }
        var rel = Array(path.components.dropFirst(inner.count))
        if rel.isEmpty {
            // The member named by `inner` itself: a folder is the target, anything else goes into it.
            guard m.kind != .directory, let last = path.components.last else { return true }
            rel = [last]
        }
        guard wanted(path.components, m) else {
            seen[path.components] = source(m)
            return true
        }
        if m.typeflag == 0x56 { return true }   // 'V': a GNU volume label, nothing to create
        guard let dirFD = openParent(rel, display: display) else { return true }
        var node = Self.node(m, name: rel.last!)
        let key = rel.joined(separator: [0x2F]).map { $0 }
        switch m.kind {
        case .directory:
            guard let fd = restorer.openFolder(node, dirFD: dirFD, display: display) else { return true }
            close(fd)
            created[key] = nil
            folders.append((rel, node, display))
        case .file:
            if try writeFile(data: m, node: node, dirFD: dirFD, key: key, display: display) { seen[path.components] = m }
        case .hardlink:
            seen[path.components] = try hardlink(m, node: node, dirFD: dirFD, inner: inner, key: key, display: display)
        case .symlink, .fifo, .charDevice, .blockDevice:
            created[key] = nil
            if m.kind == .charDevice || m.kind == .blockDevice { node.rdev = Self.makedev(m.deviceMajor, m.deviceMinor) }
            try restorer.restoreNode(node, dirFD: dirFD, rel: key, display: display)
        case .other:
            restorer.warn("\(FS.shown(display)): skipping member of unsupported type \(TarMember.shownFlag(m.typeflag))")
        }
        return true
    }

    /// The member whose data a member not extracted has, for hard links to it: a file member,
    /// or what the file member a hard link names has.
    func source(_ m: TarMember) -> TarMember? {
        if m.kind == .file { return m }
        guard m.kind == .hardlink else { return nil }
        let t = TarPath.normalize(m.linkTarget)
        return t.unsafe ? nil : seen[t.components]
    }

    /// Excluded when the member or a folder above it matches an exclude; with includes, wanted
    /// when it or a folder above it matches one (folders are always created).
    func wanted(_ c: [PathBytes], _ m: TarMember) -> Bool {
        let prefixes = (1...c.count).map { (path: c[0..<$0].joined(separator: [0x2F]).map { $0 }, name: c[$0 - 1]) }
        if prefixes.contains(where: { restorer.excludes.excluded($0.path, name: $0.name) }) { return false }
        if restorer.includes.patterns.isEmpty || m.kind == .directory { return true }
        return prefixes.contains { restorer.includes.excluded($0.path, name: $0.name) }
    }

    /// A node with the member's metadata, for the restorer's calls.
    static func node(_ m: TarMember, name: PathBytes) -> Node {
        let type: NodeType
        switch m.kind {
        case .directory: type = .directory
        case .symlink: type = .symlink
        case .charDevice: type = .charDevice
        case .blockDevice: type = .blockDevice
        case .fifo: type = .fifo
        case .file, .hardlink, .other: type = .file
        }
        return Node(name: name, type: type, mode: m.mode, uid: m.uid, gid: m.gid, user: m.user, group: m.group,
                    mtime: m.mtime, size: type == .file ? m.size : 0, linkTarget: type == .symlink ? m.linkTarget : [])
    }

    /// Linux's device number encoding (glibc's makedev).
    static func makedev(_ major: UInt32, _ minor: UInt32) -> UInt64 {
        let ma = UInt64(major), mi = UInt64(minor)
        return (ma & 0xFFFF_F000) << 32 | (ma & 0xFFF) << 8 | (mi & 0xFFFF_FF00) << 12 | (mi & 0xFF)
    }

    // MARK: folders

    /// The folder a member goes into, opened component by component from the target without
    /// following symlinks; missing folders are created (mode 0755 less the umask). Nil, after
    /// a warning, when something that is not a folder is in the way.
    func openParent(_ rel: [PathBytes], display: PathBytes) -> Int32? {
        let dirs = Array(rel.dropLast())
        if dirs.isEmpty { return restorer.rootFD }
        if let p = parent, p.rel == dirs { return p.fd }
        if let p = parent, p.fd != restorer.rootFD { close(p.fd) }
        parent = nil
        guard let fd = walk(dirs, create: true, display: display) else { return nil }
        parent = (dirs, fd)
        return fd
    }

    /// Opens the folder at `dirs` below the target (the target itself when empty); the caller
    /// closes it unless it is the target's descriptor.
    func walk(_ dirs: [PathBytes], create: Bool, display: PathBytes) -> Int32? {
        var fd = restorer.rootFD
        for (i, d) in dirs.enumerated() {
            var next = FS.withCString(d) { openat(fd, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            if next < 0 && errno == ENOENT && create {
                if FS.withCString(d, { mkdirat(fd, $0, 0o755) }) == 0 || errno == EEXIST {
                    next = FS.withCString(d) { openat(fd, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
                }
            }
            let err = errno
            if fd != restorer.rootFD { close(fd) }
            guard next >= 0 else {
                if create {
                    let folder = FS.shown(dirs[0...i].joined(separator: [0x2F]).map { $0 })
                    let why = err == ELOOP || err == ENOTDIR ? "it is a symlink or not a folder (a symlink is never followed)" : String(cString: strerror(err))
                    restorer.warn("\(FS.shown(display)): skipped, cannot use its folder \(folder): \(why)")
                }
                return nil
            }
            fd = next
        }
        return fd
    }

    /// Sets each folder's owner, mode and times after everything inside it is written,
    /// deepest (last created) first.
    func finishFolders() {
        if let p = parent, p.fd != restorer.rootFD { close(p.fd) }
        parent = nil
        var done = Set<[PathBytes]>()
        for f in folders.reversed() where done.insert(f.rel).inserted {
            guard let dirFD = walk(Array(f.rel.dropLast()), create: false, display: f.display) else { continue }
            defer { if dirFD != restorer.rootFD { close(dirFD) } }
            let fd = FS.withCString(f.node.name) { openat(dirFD, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            guard fd >= 0 else { continue }
            restorer.applyMetadata(f.node, fd: fd, dirFD: dirFD, display: f.display)
            close(fd)
            restorer.result.dirs += 1
            progress.update { $0.dirs += 1 }
        }
    }

    // MARK: files

    /// Creates `node`'s file with the data of member `data` (itself, or a hard link's target):
    /// pieces that are all zero are left as holes, the length is what the stream holds. True
    /// when the file was written in full.
    func writeFile(data: TarMember, node: Node, dirFD: Int32, key: PathBytes, display: PathBytes) throws -> Bool {
        created[key] = nil
        if !restorer.prepareReplace(node, dirFD: dirFD, display: display) { return false }
        progress.update { $0.files += 1; $0.current = FS.shown(display) }
        let fd = FS.withCString(node.name) { openat(dirFD, $0, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600) }
        guard fd >= 0 else { restorer.warn("create \(FS.shown(display)): \(String(cString: strerror(errno)))"); return false }
        defer { close(fd) }
        var written: UInt64 = 0
        let length: UInt64
        do {
            length = try stream.content(of: data) { offset, piece in
                try restorer.repo.checkCancelled()
                written += UInt64(piece.count)
                progress.addBytes(piece.count)
                if piece.allSatisfy({ $0 == 0 }) { return }
                try piece.withUnsafeBytes { b in
                    var done = 0
                    while done < b.count {
                        let n = pwrite(fd, b.baseAddress! + done, b.count - done, off_t(offset) + off_t(done))
                        if n > 0 { done += n; continue }
                        if n < 0 && errno == EINTR { continue }
                        throw SourceError(path: display, errno: errno, what: "write")
                    }
                }
            }
        } catch let e as SourceError {
            restorer.warn("\(e)"); return false
        } catch RepositoryError.interrupted {
            throw RepositoryError.interrupted
        } catch {
            restorer.warn("\(FS.shown(display)): \(error)"); return false
        }
        var complete = true
        if !data.isSparse && written < data.dataSize {
            restorer.warn("\(FS.shown(display)): the stream ends inside its data: restored \(written) of \(data.dataSize) bytes")
            complete = false
        }
        if ftruncate(fd, off_t(length)) != 0 { restorer.warn("\(FS.shown(display)): cannot set its length to \(length): \(String(cString: strerror(errno)))") }
        var st = Glibc.stat()
        if fstat(fd, &st) == 0 {
            created[key] = Restorer.LinkedFile(rel: key, device: UInt64(st.st_dev), inode: UInt64(st.st_ino), chunks: [])
        }
        restorer.result.files += 1
        restorer.result.bytes += written
        restorer.applyMetadata(node, fd: fd, dirFD: -1, display: display)
        return complete
    }

    /// A hard link to a file this run created; a copy of the target member's data when that
    /// file was not extracted (outside the folder restored, excluded); skipped with a warning
    /// when the target is not a file member before it, or one that could not be restored.
    /// Returns the member whose data the link has.
    func hardlink(_ m: TarMember, node: Node, dirFD: Int32, inner: [PathBytes], key: PathBytes, display: PathBytes) throws -> TarMember? {
        let target = TarPath.normalize(m.linkTarget)
        guard !target.unsafe, !target.components.isEmpty, let data = seen[target.components] else {
            restorer.warn("\(FS.shown(display)): skipping hard link to \"\(FS.shown(m.linkTarget))\", which is not a file member restored before it")
            return nil
        }
        let tkey = target.components.starts(with: inner) ? target.components.dropFirst(inner.count).joined(separator: [0x2F]).map { $0 } : nil
        if let tkey, tkey != key, let first = created[tkey] {
            created[key] = nil
            if restorer.prepareReplace(node, dirFD: dirFD, display: display) {
                if restorer.link(to: first, name: node.name, dirFD: dirFD) {
                    restorer.result.files += 1
                    created[key] = first
                    return data
                }
                restorer.warn("\(FS.shown(display)): cannot hard-link to \(FS.shown(tkey)): restored as a separate file")
            } else {
                return nil
            }
        }
        var copy = node
        copy.size = data.size
        return try writeFile(data: data, node: copy, dirFD: dirFD, key: key, display: display) ? data : nil
    }
}
