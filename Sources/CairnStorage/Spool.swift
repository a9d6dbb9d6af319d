import CairnCore
#if canImport(Glibc)
import Glibc
#endif

/// A file being built in the store itself (a temporary name in the right file system), so a
/// pack need not be held in memory: blobs are appended as they come, then the file is made
/// durable and renamed to its final name in one step.
public final class SpoolFile: @unchecked Sendable {   // used under the packer's lock
    public let fd: Int32
    public let path: String
    public private(set) var size: UInt64 = 0
    /// A write failed part way (a full disk): the file may hold bytes past `size`, so it is
    /// never committed (restic's packer refuses reuse after a write error too).
    public private(set) var failed = false

    init(fd: Int32, path: String) { self.fd = fd; self.path = path }

    public func append(_ bytes: UnsafeRawBufferPointer) throws {
        guard !failed else { throw StorageError.io("\(path): an earlier write failed; this pack is discarded") }
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(size) + done)
            if n > 0 { done += n; continue }
            if n < 0 && errno == EINTR { continue }
            failed = true
            throw LocalBackend.error(errno, "write \(path)")
        }
        size += UInt64(bytes.count)
    }
}

/// A store that can build files in place (the local directory backend).
public protocol SpoolingBackend: Backend {
    func createSpool(_ type: FileType) throws -> SpoolFile
    /// fsync, rename to the final name, fsync the folder.
    func commit(_ spool: SpoolFile, _ type: FileType, _ name: String) throws
    func discard(_ spool: SpoolFile)
}

extension LocalBackend: SpoolingBackend {
    /// The temporary name of a file built in place (spec §14): `.tmp-pack-<random hex>` in
    /// the `data/<xx>` folder of the random hex's first two digits, as its final name is not
    /// known until its last byte. (Before, spools were `data/.tmp-spool-<hex>`; cleaning still
    /// looks in `data/` for those.)
    func spoolPath(_ type: FileType, random: UInt64) -> String {
        let hex = String(random, radix: 16)
        let digits = String(repeating: "0", count: 16 - hex.count) + hex
        let dir = type == .pack ? root + "/data/" + digits.prefix(2) : folder(type)
        return dir + "/" + Self.tempPrefix + (type == .pack ? "pack" : "spool") + "-" + digits
    }

    public func createSpool(_ type: FileType) throws -> SpoolFile {
        let path = spoolPath(type, random: UInt64.random(in: 0...UInt64.max))
        let dir = String(path[..<path.lastIndex(of: "/")!])
        var fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd < 0 && errno == ENOENT {
            do { try recreateFolder(dir) } catch { throw Self.error(errno, "create \(dir)") }
            fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        }
        guard fd >= 0 else { throw Self.error(errno, "create \(path)") }
        return SpoolFile(fd: fd, path: path)
    }

    /// fsync, rename into the final name's folder (another `data/<xx>` of the same file
    /// system, so still one atomic step), fsync that folder and, when it is another one, the
    /// spool's folder.
    public func commit(_ spool: SpoolFile, _ type: FileType, _ name: String) throws {
        let final = path(type, name)
        // Only a whole file goes under its final name: no failed write, exactly the bytes
        // appended (nothing a partial write left past them), durable before the rename.
        guard !spool.failed else { discard(spool); throw StorageError.io("\(spool.path): a write failed; not stored as \(name)") }
        var st = Glibc.stat()
        guard fstat(spool.fd, &st) == 0, UInt64(st.st_size) == spool.size else {
            discard(spool)
            throw StorageError.io("\(spool.path): holds \(st.st_size) bytes, not the \(spool.size) written; not stored as \(name)")
        }
        guard fsync(spool.fd) == 0 else { let e = errno; discard(spool); throw Self.error(e, "fsync \(spool.path)") }
        close(spool.fd)
        let folder = String(final[..<final.lastIndex(of: "/")!])
        let spoolFolder = String(spool.path[..<spool.path.lastIndex(of: "/")!])
        if rename(spool.path, final) != 0 {
            let e = errno
            guard e == ENOENT, (try? recreateFolder(folder)) != nil, rename(spool.path, final) == 0 else {
                unlink(spool.path); throw Self.error(e, "rename to \(final)")
            }
        }
        do { try Self.syncFolder(folder) } catch { throw Self.error(errno, "fsync folder of \(final)") }
        if spoolFolder != folder { try? Self.syncFolder(spoolFolder) }   // the old name's removal; nothing depends on it
    }

    public func discard(_ spool: SpoolFile) {
        close(spool.fd)
        unlink(spool.path)
    }
}

/// A store where an interrupted write can leave a temporary file behind (never listed), and
/// which can find and delete the old ones.
public protocol TemporaryCleaning: Backend {
    /// Deletes temporary files older than `seconds`; returns how many.
    @discardableResult
    func removeStaleTemporaries(olderThan seconds: Int) -> Int
}

extension LocalBackend: TemporaryCleaning {}
