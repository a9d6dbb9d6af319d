internal import CFuse
import CairnCore
import CairnStorage
#if canImport(Glibc)
import Glibc
#endif

/// Why mounting failed.
public struct MountFailure: Error, CustomStringConvertible {
    public var description: String
}

/// Serves a `MountView` through libfuse3's high-level API: FUSE hands each call a path, the
/// view answers it. The mount is read-only (`ro`: the kernel refuses writes with EROFS, and
/// every call that would write answers EROFS as well), `nodev` and `nosuid`.
///
/// Calls come from libfuse's worker threads (`fuse_loop_mt`) at once: the view is thread-safe.
public enum FuseMount {
    public struct Options: Sendable {
        /// Let other users see the mount (FUSE's allow_other; with default_permissions, so the
        /// files' modes apply to them).
        public var allowOther = false
        /// Worker threads kept waiting when there is little to do.
        public var idleThreads: UInt32 = 4
        public init() {}
    }

    /// Mounts `view` at `mountpoint` and serves it until SIGINT, SIGTERM or SIGHUP (or until it
    /// is unmounted from outside), then unmounts. `ready` runs once the mount is in place.
    /// Takes over SIGINT, SIGTERM and SIGHUP (libfuse's handlers end the loop) and ignores SIGPIPE.
    public static func serve(_ view: MountView, at mountpoint: String, options: Options = .init(), ready: () -> Void) throws {
        var opts = "ro,nodev,nosuid,fsname=cairn,subtype=cairn"
        if options.allowOther { opts += ",allow_other,default_permissions" }
        var args = fuse_args()
        for a in ["cairn", "-o", opts] { fuse_opt_add_arg(&args, a) }
        defer { fuse_opt_free_args(&args) }
        var ops = operations()
        let context = Unmanaged.passRetained(view)
        defer { context.release() }
        guard let fuse = cfuse_new(&args, &ops, context.toOpaque()) else {
            throw MountFailure(description: "libfuse refused the mount options \(opts)")
        }
        defer { fuse_destroy(fuse) }
        let session = fuse_get_session(fuse)
        // libfuse installs its handlers only over the default action, and cairn's own (which
        // only flag a cancellation) are in place: put the defaults back first.
        for sig in [SIGINT, SIGTERM, SIGHUP] { signal(sig, SIG_DFL) }
        guard fuse_set_signal_handlers(session) == 0 else { throw MountFailure(description: "cannot install the signal handlers") }
        defer { fuse_remove_signal_handlers(session) }
        // The loop waits for them in this thread (libfuse blocks them in its workers); a parent
        // may have started us with them blocked, and then they would never arrive.
        var set = sigset_t()
        sigemptyset(&set)
        for sig in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&set, sig) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        guard fuse_mount(fuse, mountpoint) == 0 else {
            throw MountFailure(description: "cannot mount on \(mountpoint) (is /dev/fuse there, and fuse3's fusermount3 installed?)")
        }
        ready()
        let r = cfuse_loop_mt(fuse, options.idleThreads)
        fuse_unmount(fuse)
        // 0: unmounted from outside; a signal number: stopped by that signal; below 0: -errno.
        if r < 0 { throw MountFailure(description: "the FUSE loop failed: \(String(cString: strerror(-r)))") }
    }

    private static func operations() -> fuse_operations {
        var ops = fuse_operations()
        ops.`init` = { _, config in
            // Content never changes under a path: the kernel may keep what it read.
            config?.pointee.kernel_cache = 1
            return fuse_get_context()?.pointee.private_data
        }
        ops.getattr = { path, st, _ in
            guard let path, let st else { return -EINVAL }
            do { fill(st, try view().attributes(bytes(path))); return 0 } catch { return fail(error, path) }
        }
        ops.readdir = { path, buf, filler, _, _, _ in
            guard let path, let filler else { return -EINVAL }
            do {
                let entries = try view().list(bytes(path))
                var st = stat()
                st.st_mode = mode_t(0o040000)
                _ = filler(buf, ".", &st, 0, fuse_fill_dir_flags(0))
                _ = filler(buf, "..", &st, 0, fuse_fill_dir_flags(0))
                for (name, attributes) in entries {
                    fill(&st, attributes)
                    let full = (name + [0]).withUnsafeBufferPointer { b in
                        b.withMemoryRebound(to: CChar.self) { filler(buf, $0.baseAddress, &st, 0, fuse_fill_dir_flags(0)) }
                    }
                    if full != 0 { break }
                }
                return 0
            } catch { return fail(error, path) }
        }
        ops.readlink = { path, buf, size in
            guard let path, let buf, size > 0 else { return -EINVAL }
            do {
                let target = try view().readLink(bytes(path))
                let n = min(target.count, size - 1)
                if n > 0 { target.withUnsafeBytes { UnsafeMutableRawPointer(buf).copyMemory(from: $0.baseAddress!, byteCount: n) } }
                buf[n] = 0
                return 0
            } catch { return fail(error, path) }
        }
        ops.open = { path, fi in
            guard let path, let fi else { return -EINVAL }
            guard fi.pointee.flags & O_ACCMODE == O_RDONLY else { return -EROFS }
            do { fi.pointee.fh = try view().open(bytes(path)); return 0 } catch { return fail(error, path) }
        }
        ops.read = { path, buf, size, offset, fi in
            guard let buf, let fi, offset >= 0 else { return -EINVAL }
            do {
                let n = try view().read(fi.pointee.fh, offset: UInt64(offset), into: UnsafeMutableRawBufferPointer(start: buf, count: size))
                return Int32(n)
            } catch { return fail(error, path) }
        }
        ops.release = { _, fi in
            if let fi { view().close(fi.pointee.fh) }
            return 0
        }
        // The mount is read-only (`ro`), so the kernel answers these itself; just in case:
        ops.write = { _, _, _, _, _ in -EROFS }
        ops.create = { _, _, _ in -EROFS }
        ops.mknod = { _, _, _ in -EROFS }
        ops.mkdir = { _, _ in -EROFS }
        ops.unlink = { _ in -EROFS }
        ops.rmdir = { _ in -EROFS }
        ops.symlink = { _, _ in -EROFS }
        ops.rename = { _, _, _ in -EROFS }
        ops.link = { _, _ in -EROFS }
        ops.chmod = { _, _, _ in -EROFS }
        ops.chown = { _, _, _, _ in -EROFS }
        ops.truncate = { _, _, _ in -EROFS }
        ops.utimens = { _, _, _ in -EROFS }
        ops.setxattr = { _, _, _, _, _ in -EROFS }
        ops.removexattr = { _, _ in -EROFS }
        return ops
    }
}

// MARK: the calls (file-level functions: a C function pointer cannot capture a type)

/// The view given to fuse_new, from inside a call.
private func view() -> MountView {
    Unmanaged<MountView>.fromOpaque(fuse_get_context()!.pointee.private_data!).takeUnretainedValue()
}

private func bytes(_ p: UnsafePointer<CChar>) -> [UInt8] {
    Array(UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: strlen(p)))
}

/// -errno for an error; a failure that is not the path's fault is also reported on stderr.
private func fail(_ error: Error, _ path: UnsafePointer<CChar>?) -> Int32 {
    if let e = error as? MountError { return -e.errno }
    let p = path.map { String(decoding: bytes($0), as: UTF8.self) } ?? "?"
    try? writeAll(2, "cairn mount: \(p): \(error)\n".utf8)
    return -EIO
}

private func fill(_ st: UnsafeMutablePointer<stat>, _ a: MountAttributes) {
    var s = stat()
    s.st_mode = mode_t(a.statMode)
    s.st_nlink = nlink_t(a.links)
    s.st_uid = uid_t(a.uid)
    s.st_gid = gid_t(a.gid)
    s.st_size = off_t(clamping: a.size)
    s.st_blksize = 4096
    s.st_blocks = blkcnt_t(clamping: (a.size + 511) / 512)
    s.st_rdev = dev_t(a.rdev)
    func ts(_ ns: Int64) -> timespec {
        let (q, r) = ns.quotientAndRemainder(dividingBy: 1_000_000_000)
        return r < 0 ? timespec(tv_sec: Int(q - 1), tv_nsec: Int(r + 1_000_000_000)) : timespec(tv_sec: Int(q), tv_nsec: Int(r))
    }
    s.st_mtim = ts(a.mtime)
    s.st_atim = s.st_mtim
    s.st_ctim = ts(a.ctime)
    st.pointee = s
}
