import CairnCore
import CairnFormat
import Synchronization
internal import CPosix
#if canImport(Glibc)
import Glibc
#endif

/// Paths are bytes: file names need not be UTF-8 and must be preserved exactly.
public typealias PathBytes = [UInt8]

package enum FS {
    package static func join(_ a: PathBytes, _ b: PathBytes) -> PathBytes {
        if a.isEmpty { return b }
        if a.last == 47 { return a + b }
        return a + [47] + b
    }

    package static func string(_ p: PathBytes) -> String { String(decoding: p, as: UTF8.self) }

    /// A path for messages: valid UTF-8 is kept, except that control characters, bytes that
    /// are not UTF-8 and backslashes are shown as \xNN (\u{NNNN} for non-ASCII controls), so a
    /// name can neither hide nor drive the terminal.
    package static func shown(_ p: PathBytes) -> String {
        if p.allSatisfy({ $0 >= 0x20 && $0 < 0x7f && $0 != 0x5c }) { return String(decoding: p, as: UTF8.self) }
        func hex(_ v: UInt32, _ width: Int) -> String {
            let s = String(v, radix: 16)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        var out = ""
        var i = 0
        while i < p.count {
            let b = p[i]
            if b < 0x80 {
                if b < 0x20 || b == 0x7f || b == 0x5c { out += "\\x" + hex(UInt32(b), 2) } else { out.unicodeScalars.append(Unicode.Scalar(b)) }
                i += 1; continue
            }
            let n = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1
            if n > 1, i + n <= p.count, let s = String(validating: p[i..<i + n], as: UTF8.self), let c = s.unicodeScalars.first {
                if c.properties.generalCategory == .control || c.properties.generalCategory == .format {
                    out += "\\u{" + hex(c.value, 4) + "}"
                } else {
                    out += s
                }
                i += n
            } else {
                out += "\\x" + hex(UInt32(b), 2); i += 1
            }
        }
        return out
    }

    package static func withCString<T>(_ p: PathBytes, _ body: (UnsafePointer<CChar>) throws -> T) rethrows -> T {
        try (p + [0]).withUnsafeBufferPointer { b in
            try b.withMemoryRebound(to: CChar.self) { try body($0.baseAddress!) }
        }
    }

    package static func lstat(_ p: PathBytes) -> (Glibc.stat?, Int32) {
        var st = Glibc.stat()
        let r = withCString(p) { Glibc.lstat($0, &st) }
        return r == 0 ? (st, 0) : (nil, errno)
    }

    /// Entry names of a directory, sorted bytewise.
    package static func list(_ p: PathBytes) throws -> [PathBytes] {
        guard let d = withCString(p, { opendir($0) }) else { throw SourceError(path: p, errno: errno, what: "open directory") }
        defer { closedir(d) }
        var out: [PathBytes] = []
        while let e = readdir(d) {
            let name: PathBytes = withUnsafeBytes(of: e.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            if name == [46] || name == [46, 46] { continue }
            out.append(name)
        }
        out.sort { $0.lexicographicallyPrecedes($1) }
        return out
    }

    static func readlink(_ p: PathBytes) -> PathBytes? {
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = withCString(p) { c in buf.withUnsafeMutableBufferPointer { b in b.withMemoryRebound(to: CChar.self) { Glibc.readlink(c, $0.baseAddress!, 4096) } } }
        return n >= 0 ? Array(buf[0..<n]) : nil
    }

    static func xattrs(_ p: PathBytes) -> [Xattr] {
        withCString(p) { c -> [Xattr] in
            let size = llistxattr(c, nil, 0)
            guard size > 0 else { return [] }
            var names = [UInt8](repeating: 0, count: size)
            let n = names.withUnsafeMutableBufferPointer { b in b.withMemoryRebound(to: CChar.self) { llistxattr(c, $0.baseAddress, size) } }
            guard n > 0 else { return [] }
            var out: [Xattr] = []
            for name in names[0..<n].split(separator: 0) {
                let nm = Array(name)
                let v: [UInt8]? = withCString(nm) { nc in
                    let vs = lgetxattr(c, nc, nil, 0)
                    guard vs >= 0 else { return nil }
                    var val = [UInt8](repeating: 0, count: vs)
                    let r = val.withUnsafeMutableBytes { lgetxattr(c, nc, $0.baseAddress, vs) }
                    return r >= 0 ? Array(val[0..<r]) : nil
                }
                if let v { out.append(Xattr(name: nm, value: v)) }
            }
            return out.sorted { $0.name.lexicographicallyPrecedes($1.name) }
        }
    }

    static func nodeType(_ mode: mode_t) -> NodeType? {
        switch mode & S_IFMT {
        case S_IFREG: return .file
        case S_IFDIR: return .directory
        case S_IFLNK: return .symlink
        case S_IFCHR: return .charDevice
        case S_IFBLK: return .blockDevice
        case S_IFIFO: return .fifo
        case S_IFSOCK: return .socket
        default: return nil
        }
    }

    /// A node with the metadata of `st` (content is left empty).
    package static func node(name: PathBytes, path: PathBytes, st: Glibc.stat, names: NameCache) -> Node? {
        guard let type = nodeType(st.st_mode) else { return nil }
        var n = Node(name: name, type: type)
        n.mode = UInt32(st.st_mode) & 0o7777
        n.uid = st.st_uid; n.gid = st.st_gid
        n.user = names.user(st.st_uid); n.group = names.group(st.st_gid)
        n.mtime = Timestamp.nanoseconds(seconds: Int64(st.st_mtim.tv_sec), nanos: Int64(st.st_mtim.tv_nsec))
        n.ctime = Timestamp.nanoseconds(seconds: Int64(st.st_ctim.tv_sec), nanos: Int64(st.st_ctim.tv_nsec))
        n.size = type == .file || type == .symlink ? UInt64(st.st_size) : 0
        n.inode = UInt64(st.st_ino); n.device = UInt64(st.st_dev); n.links = UInt32(st.st_nlink)
        if type == .charDevice || type == .blockDevice { n.rdev = UInt64(st.st_rdev) }
        if type == .symlink { n.linkTarget = readlink(path) ?? [] }
        n.xattrs = xattrs(path)
        return n
    }
}

/// A problem with one source file: reported, counted, and the backup goes on.
public struct SourceError: Error, CustomStringConvertible, Sendable {
    public var path: PathBytes
    public var errno: Int32
    public var what: String
    package init(path: PathBytes, errno: Int32, what: String) { self.path = path; self.errno = errno; self.what = what }
    public var description: String { "\(what) \(FS.string(path)): \(String(cString: strerror(errno)))" }
}

/// uid/gid → name lookups, cached.
package final class NameCache: Sendable {
    package init() {}
    let users = Locked([UInt32: PathBytes]())
    let groups = Locked([UInt32: PathBytes]())

    package func user(_ uid: UInt32) -> PathBytes {
        cached(users, uid) { getpwuid(uid)?.pointee.pw_name }
    }
    package func group(_ gid: UInt32) -> PathBytes {
        cached(groups, gid) { getgrgid(gid)?.pointee.gr_name }
    }

    private func cached(_ map: Locked<[UInt32: PathBytes]>, _ key: UInt32, _ lookup: () -> UnsafeMutablePointer<CChar>?) -> PathBytes {
        if let v = map.withLock({ $0[key] }) { return v }
        let name = lookup().map { Array(String(cString: $0).utf8) } ?? []
        map.withLock { $0[key] = name }
        return name
    }
}
