import CairnCore
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// A repository in a local directory:
///
///     config  keys/<id>  data/<xx>/<id>  index/<id>  snapshots/<id>  locks/<id>
///
/// Writes go to `.tmp-<name>-<random>` in the target folder, are fsynced, renamed into
/// place, and the folder is fsynced; a pack built in place is `data/<xx>/.tmp-pack-<random>`
/// (Spool.swift). Listings skip `.tmp-` files (left by a crash).
public struct LocalBackend: Backend {
    public let root: String
    public var location: String { root }

    public init(path: String) {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        root = p
    }

    public static let tempPrefix = ".tmp-"

    func folder(_ type: FileType) -> String { type == .config ? root : root + "/" + type.folder }

    public func path(_ type: FileType, _ name: String) -> String {
        switch type {
        case .config: return root + "/config"
        case .pack: return root + "/data/" + name.prefix(2) + "/" + name
        default: return folder(type) + "/" + name
        }
    }

    /// `data/00` … `data/ff`: packs live under the first two hex digits of their name.
    func dataFolder(_ i: Int) -> String {
        let h = String(i, radix: 16)
        return root + "/data/" + (h.count == 1 ? "0" + h : h)
    }

    public func create() throws {
        if access(root + "/config", F_OK) == 0 { throw StorageError.io("a repository already exists at \(root)") }
        // A new repository goes into a new or empty folder only: never among other files.
        var st = Glibc.stat()
        if sysStat(root, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else {
                throw StorageError.refused("\(root) is a file, not a folder: cannot create a repository there")
            }
            // The empty layout of an earlier create (rest-server's `?create=true`, then init) is fine.
            let layout = Set(FileType.allCases.filter { $0 != .config }.map(\.folder))
            if let entry = try firstEntry(root, except: layout) {
                throw StorageError.refused("\(root) is not empty (it holds \(entry)) and is not a repository: "
                                           + "create the repository in a new or empty folder")
            }
        }
        try mkdirs(root)
        for t in FileType.allCases where t != .config { try mkdirs(folder(t)) }
        for i in 0..<256 { try mkdirs(dataFolder(i)) }
    }

    /// The name of one entry of a folder other than . and .. and the folders named in
    /// `except`, or nil when there is none.
    func firstEntry(_ dir: String, except: Set<String> = []) throws -> String? {
        guard let d = opendir(dir) else { throw Self.error(errno, "list \(dir)") }
        defer { closedir(d) }
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name == "." || name == ".." { continue }
            var st = Glibc.stat()
            if except.contains(name), sysStat(dir + "/" + name, &st) == 0, st.st_mode & S_IFMT == S_IFDIR { continue }
            return name
        }
        return nil
    }

    func mkdirs(_ p: String) throws {
        if mkdir(p, 0o700) == 0 || errno == EEXIST { return }
        if errno == ENOENT, let slash = p.lastIndex(of: "/"), slash != p.startIndex {
            try mkdirs(String(p[..<slash]))
            if mkdir(p, 0o700) == 0 || errno == EEXIST { return }
        }
        throw Self.error(errno, "create folder \(p)")
    }

    static func error(_ e: Int32, _ what: String) -> StorageError {
        let msg = "\(what): \(String(cString: strerror(e)))"
        switch e {
        case ENOENT, ENOTDIR: return .notFound(msg)   // ENOTDIR: a part of the path is a file
        case EACCES, EPERM, EROFS: return .permission(msg)
        case ENOSPC, EDQUOT: return .quota(msg)
        case EINTR, EAGAIN: return .transient(msg)
        default: return .io(msg)
        }
    }

    static func error(_ e: Errno, _ what: String) -> StorageError { error(e.rawValue, what) }

    public func list(_ type: FileType) throws -> [FileInfo] {
        if type == .config {
            return (try? stat(.config, "config")).map { [$0] } ?? []
        }
        var out: [FileInfo] = []
        if type == .pack {
            for i in 0..<256 { try listFolder(dataFolder(i), into: &out, missingOK: true) }
        } else {
            try listFolder(folder(type), into: &out, missingOK: true)   // git cannot hold empty folders
        }
        return out
    }

    private func listFolder(_ dir: String, into out: inout [FileInfo], missingOK: Bool) throws {
        guard let d = opendir(dir) else {
            if missingOK && errno == ENOENT { return }
            throw Self.error(errno, "list \(dir)")
        }
        defer { closedir(d) }
        while let e = readdir(d) {
            let name = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name == "." || name == ".." || name.hasPrefix(Self.tempPrefix) { continue }
            var st = Glibc.stat()
            guard sysStat(dir + "/" + name, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            out.append(FileInfo(name: name, size: UInt64(st.st_size)))
        }
    }

    public func stat(_ type: FileType, _ name: String) throws -> FileInfo {
        var st = Glibc.stat()
        let p = path(type, name)
        guard sysStat(p, &st) == 0 else { throw Self.error(errno, "stat \(p)") }
        return FileInfo(name: name, size: UInt64(st.st_size))
    }

    public func read(_ type: FileType, _ name: String, offset: UInt64, length: Int?) throws -> [UInt8] {
        let p = path(type, name)
        let fd: FileDescriptor
        do { fd = try FileDescriptor.open(FilePath(p), .readOnly) } catch let e as Errno { throw Self.error(e, "open \(p)") }
        defer { try? fd.close() }
        do {
            let n: Int
            if let length { n = length } else {
                let size = try fd.seek(offset: 0, from: .end)
                guard Int64(offset) <= size else { throw StorageError.io("\(p): offset \(offset) is past the end (\(size) bytes)") }
                n = Int(size - Int64(offset))
            }
            var done = 0
            // Uninitialised: the read fills it (no 16 MiB memset per pack).
            let out = try [UInt8](unsafeUninitializedCapacity: n) { buf, count in
                let raw = UnsafeMutableRawBufferPointer(buf)
                while done < n {
                    let r = try fd.read(fromAbsoluteOffset: Int64(offset) + Int64(done),
                                        into: UnsafeMutableRawBufferPointer(rebasing: raw[done...]))
                    if r == 0 { break }
                    done += r
                }
                count = done
            }
            if done < n { throw StorageError.io("\(p): short read, \(done) of \(n) bytes at offset \(offset)") }
            return out
        } catch let e as Errno { throw Self.error(e, "read \(p)") }
    }

    public func write(_ type: FileType, _ name: String, _ bytes: [UInt8]) throws {
        let final = path(type, name)
        let dir = String(final[..<final.lastIndex(of: "/")!])
        let rnd = UInt64.random(in: 0...UInt64.max)
        let tmp = dir + "/" + Self.tempPrefix + name + "-" + String(rnd, radix: 16)
        do {
            let fd: FileDescriptor
            do {
                fd = try FileDescriptor.open(FilePath(tmp), .writeOnly, options: [.create, .exclusiveCreate],
                                             permissions: [.ownerRead, .ownerWrite])
            } catch Errno.noSuchFileOrDirectory where type != .config {
                // The folder is gone (someone deleted index/ or data/xx): make it again.
                try recreateFolder(dir)
                fd = try FileDescriptor.open(FilePath(tmp), .writeOnly, options: [.create, .exclusiveCreate],
                                             permissions: [.ownerRead, .ownerWrite])
            }
            do {
                _ = try bytes.withUnsafeBytes { try fd.writeAll($0) }
                guard fsync(fd.rawValue) == 0 else { throw Errno(rawValue: errno) }
                try fd.close()
            } catch {
                try? fd.close(); unlink(tmp); throw error
            }
            guard rename(tmp, final) == 0 else { let e = errno; unlink(tmp); throw Errno(rawValue: e) }
            try Self.syncFolder(dir)
        } catch let e as Errno {
            throw Self.error(e, "write \(final)")
        }
    }

    /// Creates a missing folder of the layout (and its parents) durably, so a repository whose
    /// index/ or data/xx folder was deleted can be written to (and repaired) again.
    func recreateFolder(_ dir: String) throws {
        guard dir.hasPrefix(root + "/") else { throw Errno.noSuchFileOrDirectory }
        try mkdirs(dir)
        try Self.syncFolder(String(dir[..<dir.lastIndex(of: "/")!]))
    }

    static func syncFolder(_ dir: String) throws {
        let fd = open(dir, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { throw Errno(rawValue: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw Errno(rawValue: errno) }
    }

    public func delete(_ type: FileType, _ name: String) throws {
        let p = path(type, name)
        if unlink(p) != 0 && errno != ENOENT { throw Self.error(errno, "delete \(p)") }
    }

    /// Removes temporary files left by an interrupted write (older than `olderThan` seconds).
    public func removeStaleTemporaries(olderThan seconds: Int = 3600) -> Int {
        var removed = 0
        let now = time(nil)
        // `data/` itself: earlier versions spooled packs there as `.tmp-spool-<hex>`.
        var dirs = FileType.allCases.filter { $0 != .pack && $0 != .config }.map { folder($0) } + [root, root + "/data"]
        for i in 0..<256 { dirs.append(dataFolder(i)) }
        for dir in dirs {
            guard let d = opendir(dir) else { continue }
            while let e = readdir(d) {
                let name = withUnsafePointer(to: e.pointee.d_name) {
                    $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
                }
                guard name.hasPrefix(Self.tempPrefix) else { continue }
                var st = Glibc.stat()
                if sysStat(dir + "/" + name, &st) == 0, now - st.st_mtim.tv_sec > seconds, unlink(dir + "/" + name) == 0 { removed += 1 }
            }
            closedir(d)
        }
        return removed
    }
}

/// `stat(2)`; a free function because `LocalBackend.stat` shadows the C name inside the type.
func sysStat(_ path: String, _ st: inout Glibc.stat) -> Int32 { stat(path, &st) }
