import CairnCore
import CairnStorage
#if canImport(Glibc)
import Glibc
#endif

/// SFTP version 3 (draft-ietf-secsh-filexfer-02) over the pipes of an `ssh ... -s sftp`
/// child. Requests carry IDs, so several can be in flight; one thread at a time drives the
/// connection (the backend holds a lock around each operation).
final class SFTPConnection: @unchecked Sendable {   // used by one thread at a time, under the backend's lock
    enum Packet: UInt8 {
        case initialize = 1, version = 2, open = 3, close = 4, read = 5, write = 6, lstat = 7
        case opendir = 11, readdir = 12, remove = 13, mkdir = 14, stat = 17, rename = 18
        case status = 101, handle = 102, data = 103, name = 104, attrs = 105, extended = 200
    }
    struct Status: Error { var code: UInt32; var message: String }
    static let ok: UInt32 = 0, eof: UInt32 = 1, noSuchFile: UInt32 = 2, permissionDenied: UInt32 = 3

    let ssh: Subprocess
    var nextID: UInt32 = 1
    var extensions: Set<String> = []

    /// Starts `argv` (an ssh command ending in `-s sftp`) and says hello.
    init(argv: [String]) throws {
        do { ssh = try Subprocess(argv, pipeInput: true) } catch { throw StorageError.io("\(error)") }
        signal(SIGPIPE, SIG_IGN)   // a dead ssh must give an error, not kill us
        var w = SFTPWriter()
        w.u32(3)
        try send(.initialize, w.bytes)
        let (type, body) = try receive()
        guard type == Packet.version.rawValue else { throw StorageError.io("sftp: the server did not answer with a version (is the sftp subsystem enabled?)") }
        var r = SFTPReader(body)
        let version = try r.u32("version")
        guard version >= 3 else { throw StorageError.io("sftp: server speaks version \(version), 3 is needed") }
        while !r.atEnd {
            let name = String(decoding: try r.lengthPrefixed("extension"), as: UTF8.self)
            _ = try r.lengthPrefixed("extension data")
            extensions.insert(name)
        }
    }

    // MARK: framing

    func send(_ type: Packet, _ payload: [UInt8]) throws {
        var frame = SFTPWriter()
        frame.u32(UInt32(payload.count + 1))
        frame.u8(type.rawValue)
        try writeAll(frame.bytes)
        try writeAll(payload)
    }

    func writeAll(_ bytes: [UInt8]) throws {
        do { try CairnStorage.writeAll(ssh.input!, bytes) }
        catch { throw StorageError.transient("sftp: connection lost (ssh exited?)") }
    }

    func readExactly(_ n: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: n)
        var done = 0
        try out.withUnsafeMutableBytes { b in
            while done < n {
                let r = Glibc.read(ssh.output, b.baseAddress! + done, n - done)
                if r < 0 && errno == EINTR { continue }
                guard r > 0 else { throw StorageError.transient("sftp: connection lost (ssh exited: check the host, user and key)") }
                done += r
            }
        }
        return out
    }

    func receive() throws -> (UInt8, [UInt8]) {
        let head = try readExactly(4)
        let length = Int(UInt32(head[0]) << 24 | UInt32(head[1]) << 16 | UInt32(head[2]) << 8 | UInt32(head[3]))
        guard length >= 1, length <= 1 << 20 else { throw StorageError.io("sftp: bad packet length \(length)") }
        let body = try readExactly(length)
        return (body[0], Array(body[1...]))
    }

    // MARK: requests

    /// Sends a request (the ID is filled in); returns the ID.
    func request(_ type: Packet, _ fill: (inout SFTPWriter) -> Void) throws -> UInt32 {
        let id = nextID
        nextID &+= 1
        var w = SFTPWriter()
        w.u32(id)
        fill(&w)
        try send(type, w.bytes)
        return id
    }

    /// Reads the reply to `id` (replies come in request order for one file, but any order
    /// is accepted by matching IDs in the caller).
    func reply(_ id: UInt32) throws -> (UInt8, SFTPReader) {
        let (type, body) = try receive()
        var r = SFTPReader(body)
        let got = try r.u32("id")
        guard got == id else { throw StorageError.io("sftp: reply \(got) where \(id) was expected") }
        return (type, r)
    }

    func status(_ r: inout SFTPReader) throws -> Status {
        let code = try r.u32("status")
        let message = (try? r.lengthPrefixed("message")).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return Status(code: code, message: message)
    }

    /// A request whose only success is STATUS OK.
    func expectOK(_ type: Packet, _ fill: (inout SFTPWriter) -> Void) throws {
        let id = try request(type, fill)
        var (t, r) = try reply(id)
        guard t == Packet.status.rawValue else { throw StorageError.io("sftp: unexpected reply \(t)") }
        let s = try status(&r)
        if s.code != Self.ok { throw s }
    }

    func handle(_ type: Packet, _ fill: (inout SFTPWriter) -> Void) throws -> [UInt8] {
        let id = try request(type, fill)
        var (t, r) = try reply(id)
        if t == Packet.status.rawValue { throw try status(&r) }
        guard t == Packet.handle.rawValue else { throw StorageError.io("sftp: unexpected reply \(t)") }
        return try r.lengthPrefixed("handle")
    }

    /// Size from a STAT reply's attributes (nil when the server sent none).
    func statSize(_ path: String) throws -> UInt64? {
        let id = try request(.stat) { $0.string(path) }
        var (t, r) = try reply(id)
        if t == Packet.status.rawValue { throw try status(&r) }
        guard t == Packet.attrs.rawValue else { throw StorageError.io("sftp: unexpected reply \(t)") }
        return try Self.attrs(&r).size
    }

    struct Attrs { var size: UInt64?; var isDirectory = false; var mtime: UInt32? }

    static func attrs(_ r: inout SFTPReader) throws -> Attrs {
        var a = Attrs()
        let flags = try r.u32("attr flags")
        if flags & 1 != 0 { a.size = try r.u64("size") }
        if flags & 2 != 0 { _ = try r.u32("uid"); _ = try r.u32("gid") }
        if flags & 4 != 0 { a.isDirectory = try r.u32("permissions") & 0o170000 == 0o040000 }
        if flags & 8 != 0 { _ = try r.u32("atime"); a.mtime = try r.u32("mtime") }
        if flags & 0x8000_0000 != 0 {
            let n = try r.u32("extended count")
            for _ in 0..<n { _ = try r.lengthPrefixed("ext name"); _ = try r.lengthPrefixed("ext data") }
        }
        return a
    }

    struct Entry { var name: String; var size: UInt64; var isDirectory: Bool; var mtime: UInt32? }

    /// Every entry of a folder, without "." and "..".
    func readdir(_ path: String) throws -> [Entry] {
        let h = try handle(.opendir) { $0.string(path) }
        defer { try? expectOK(.close) { $0.bytes(h) } }
        var out: [Entry] = []
        while true {
            let id = try request(.readdir) { $0.bytes(h) }
            var (t, r) = try reply(id)
            if t == Packet.status.rawValue {
                let s = try status(&r)
                if s.code == Self.eof { return out }
                throw s
            }
            guard t == Packet.name.rawValue else { throw StorageError.io("sftp: unexpected reply \(t)") }
            let count = try r.u32("count")
            for _ in 0..<count {
                let name = String(decoding: try r.lengthPrefixed("name"), as: UTF8.self)
                _ = try r.lengthPrefixed("longname")
                let a = try Self.attrs(&r)
                if name != "." && name != ".." { out.append(Entry(name: name, size: a.size ?? 0, isDirectory: a.isDirectory, mtime: a.mtime)) }
            }
        }
    }

    /// Reads `length` bytes from `offset` (or to the end), with up to 16 requests in flight.
    func read(_ path: String, offset: UInt64, length: Int?) throws -> [UInt8] {
        let h = try handle(.open) { $0.string(path); $0.u32(1); $0.u32(0) }
        defer { try? expectOK(.close) { $0.bytes(h) } }
        let total: UInt64 = try length.map { UInt64($0) } ?? {
            let size = try statSize(path) ?? 0
            guard offset <= size else { throw StorageError.io("\(path): offset \(offset) is past the end (\(size) bytes)") }
            return size - offset
        }()
        var out: [UInt8] = []
        out.reserveCapacity(Int(total))
        let piece: UInt64 = 64 << 10
        var next = offset, end = offset + total
        var inFlight: [(UInt32, UInt64, UInt64)] = []   // id, offset, length
        while next < end || !inFlight.isEmpty {
            while next < end && inFlight.count < 16 {
                let n = min(piece, end - next), at = next
                inFlight.append((try request(.read) { $0.bytes(h); $0.u64(at); $0.u32(UInt32(n)) }, at, n))
                next += n
            }
            let (id, at, n) = inFlight.removeFirst()
            var (t, r) = try reply(id)
            if t == Packet.status.rawValue {
                let s = try status(&r)
                if s.code == Self.eof { end = min(end, at); for f in inFlight { _ = try reply(f.0) }; inFlight = []; break }
                throw s
            }
            let data = try r.lengthPrefixed("data")
            guard UInt64(out.count) + offset == at else { throw StorageError.io("sftp: read out of order") }
            out += data
            if UInt64(data.count) < n {   // short read: ask for the rest next
                for f in inFlight { _ = try reply(f.0) }
                inFlight = []
                next = at + UInt64(data.count)
                if data.isEmpty { break }
            }
        }
        return out
    }

    /// Writes a new file (it must not exist), pipelined, then fsyncs it when the server can.
    func create(_ path: String, _ bytes: [UInt8]) throws {
        let h = try handle(.open) { $0.string(path); $0.u32(0x02 | 0x08 | 0x20); $0.u32(0) }   // WRITE|CREAT|EXCL
        var closed = false
        defer { if !closed { try? expectOK(.close) { $0.bytes(h) } } }
        let piece = 64 << 10
        var sent = 0
        var inFlight: [UInt32] = []
        while sent < bytes.count || !inFlight.isEmpty {
            while sent < bytes.count && inFlight.count < 16 {
                let n = min(piece, bytes.count - sent), at = sent
                inFlight.append(try request(.write) { w in w.bytes(h); w.u64(UInt64(at)); w.bytes(Array(bytes[at..<(at + n)])) })
                sent += n
            }
            var (t, r) = try reply(inFlight.removeFirst())
            guard t == Packet.status.rawValue else { throw StorageError.io("sftp: unexpected reply \(t)") }
            let s = try status(&r)
            if s.code != Self.ok { for id in inFlight { _ = try reply(id) }; throw s }
        }
        if extensions.contains("fsync@openssh.com") {
            try expectOK(.extended) { $0.string("fsync@openssh.com"); $0.bytes(h) }
        }
        closed = true
        try expectOK(.close) { $0.bytes(h) }
    }

    /// Renames, replacing the target atomically (posix-rename@openssh.com) when offered.
    func rename(_ from: String, _ to: String) throws {
        if extensions.contains("posix-rename@openssh.com") {
            try expectOK(.extended) { $0.string("posix-rename@openssh.com"); $0.string(from); $0.string(to) }
        } else {
            try expectOK(.rename) { $0.string(from); $0.string(to) }
        }
    }
}

/// SSH wire encoding (RFC 4251 §5): big-endian integers, strings as u32 length + bytes.
struct SFTPWriter {
    var bytes: [UInt8] = []
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) } }
    mutating func bytes(_ b: [UInt8]) { u32(UInt32(b.count)); bytes.append(contentsOf: b) }
    mutating func string(_ s: String) { bytes(Array(s.utf8)) }
}

struct SFTPReader {
    let data: [UInt8]
    var offset = 0
    init(_ data: [UInt8]) { self.data = data }
    var atEnd: Bool { offset >= data.count }
    mutating func take(_ n: Int, _ what: String) throws -> ArraySlice<UInt8> {
        guard n >= 0, data.count - offset >= n else { throw StorageError.io("sftp: truncated \(what)") }
        defer { offset += n }
        return data[offset..<(offset + n)]
    }
    mutating func u32(_ what: String) throws -> UInt32 { try take(4, what).reduce(0) { $0 << 8 | UInt32($1) } }
    mutating func u64(_ what: String) throws -> UInt64 { try take(8, what).reduce(0) { $0 << 8 | UInt64($1) } }
    mutating func lengthPrefixed(_ what: String) throws -> [UInt8] { Array(try take(Int(try u32(what)), what)) }
}
