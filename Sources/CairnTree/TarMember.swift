import CairnChunking
import CairnCore

/// One member of a tar stream, as its header group describes it (format-spec §13.5): ustar
/// name and prefix, overridden by a GNU long name/link ('L', 'K') and by pax records ('x';
/// global 'g' records give defaults for owner and time).
public struct TarMember: Sendable {
    public enum Kind: String, Sendable {
        case file, hardlink, symlink, charDevice = "chardev", blockDevice = "blockdev", directory = "dir", fifo, other
    }
    /// A run of a sparse member's data: `length` bytes at `offset` of the file.
    public struct Run: Sendable, Equatable {
        public var offset: UInt64
        public var length: UInt64
    }

    public var kind: Kind
    public var typeflag: UInt8
    /// The path as recorded (not normalized): see `TarPath`.
    public var path: PathBytes
    /// Symlink target, or the member a hard link names.
    public var linkTarget: PathBytes = []
    public var mode: UInt32 = 0
    public var uid: UInt32 = 0
    public var gid: UInt32 = 0
    public var user: PathBytes = []
    public var group: PathBytes = []
    /// ns since the epoch
    public var mtime: Int64 = 0
    /// The file's length (for a sparse member, its length with the holes).
    public var size: UInt64 = 0
    public var deviceMajor: UInt32 = 0
    public var deviceMinor: UInt32 = 0
    /// Offset of the first block of the member's header group.
    public var headerOffset: UInt64 = 0
    /// Offset and length of the bytes that follow the header group (no padding).
    public var dataOffset: UInt64 = 0
    public var dataSize: UInt64 = 0
    /// Sparse members (GNU 'S', pax GNU.sparse.*): the data is these runs, one after the other.
    /// `sparseMapInData`: pax format 1.0, the map is at the start of the data.
    public var isSparse = false
    public var sparseRuns: [Run] = []
    public var sparseMapInData = false

    public var typeName: String { kind == .other ? "other (typeflag \(TarMember.shownFlag(typeflag)))" : kind.rawValue }

    package static func shownFlag(_ t: UInt8) -> String { t >= 0x21 && t < 0x7f ? "'\(Character(Unicode.Scalar(t)))'" : "\(t)" }
}

/// Reads a tar stream's header groups one after the other, skipping members' data by offset
/// arithmetic: only the blocks of headers and of their records are read.
public struct TarMemberReader {
    let stream: StreamReader
    /// Where the next header group starts.
    public private(set) var offset: UInt64 = 0
    /// Problems that stopped the reading (an invalid header, a stream that ends too early).
    public private(set) var warnings: [String] = []
    /// Damage that stopped the reading (a pax size that is negative or overflows): listing
    /// and unpacking fail on these, not only warn.
    public private(set) var errors: [String] = []
    /// Offset of the end-of-archive block, once reached.
    public private(set) var endOfArchive: UInt64?
    var done = false
    /// pax global ('g') records: defaults for uid, gid, uname, gname, mtime.
    var globals: [String: [UInt8]] = [:]

    /// The keys of pax global records that apply to the members after them.
    static let globalKeys: Set<String> = ["uid", "gid", "uname", "gname", "mtime"]

    /// Records ('L', 'K', 'x', 'g') larger than this are refused as not plausible.
    static let recordLimit: UInt64 = 1 << 20

    public init(_ stream: StreamReader) { self.stream = stream }

    mutating func stop(_ warning: String) -> TarMember? {
        warnings.append(warning); done = true; return nil
    }

    /// The next member, or nil at the end of the archive, at the end of the stream, or at a
    /// block that is not a header (with a warning).
    public mutating func next() throws -> TarMember? {
        guard !done else { return nil }
        let groupStart = offset
        var longName: [UInt8]?, longLink: [UInt8]?
        var pax: [String: [UInt8]] = [:]
        var sparseOffsets: [UInt64] = [], sparseLengths: [UInt64] = []   // pax 0.0
        while true {
            let block = try stream.read(offset, TarHeader.blockSize)
            if block.isEmpty && offset == groupStart {   // no end-of-archive block: harmless
                done = true; return nil
            }
            guard block.count == TarHeader.blockSize else {
                return stop("the stream ends inside a header at byte \(offset)")
            }
            if block.allSatisfy({ $0 == 0 }) {
                if offset != groupStart { warnings.append("the archive ends inside a header group at byte \(groupStart)") }
                endOfArchive = offset; done = true; return nil
            }
            let parsed = block.withUnsafeBytes { raw -> (typeflag: UInt8, size: UInt64?, valid: Bool) in
                let h = TarHeader(raw)
                return (h.typeflag, h.size, h.checksumIsValid)
            }
            guard parsed.valid, let headerSize = parsed.size else {
                return stop("byte \(offset) is not a tar header: no members are read after it")
            }
            let headerAt = offset
            offset += UInt64(TarHeader.blockSize)
            switch parsed.typeflag {
            case 0x4C, 0x4B, 0x78, 0x58, 0x67:   // 'L', 'K', 'x', 'X', 'g'
                guard headerSize <= Self.recordLimit else {
                    return stop("the record at byte \(headerAt) claims \(headerSize) bytes (more than \(Self.recordLimit)): no members are read after it")
                }
                let data = try stream.read(offset, Int(headerSize))
                guard data.count == Int(headerSize) else { return stop("the stream ends inside the record at byte \(headerAt)") }
                offset += Self.padded(headerSize)
                switch parsed.typeflag {
                case 0x4C: longName = Array(data.prefix { $0 != 0 })
                case 0x4B: longLink = Array(data.prefix { $0 != 0 })
                default:
                    guard let records = Self.paxRecords(data) else {
                        return stop("the pax header at byte \(headerAt) is malformed: no members are read after it")
                    }
                    for (k, v) in records {
                        if parsed.typeflag == 0x67 {
                            // Global records give defaults only for what is not about one member.
                            if Self.globalKeys.contains(k) { globals[k] = v }
                            continue
                        }
                        pax[k] = v
                        if k == "size", case .invalid = TarHeader.paxSize(value: v) {
                            errors.append("the pax header at byte \(headerAt) has an invalid size \"\(String(decoding: v.prefix(40), as: UTF8.self))\" (negative, not a number or too large): no members are read after it")
                            done = true; return nil
                        }
                        if k == "GNU.sparse.offset", let n = Self.decimal(v) { sparseOffsets.append(n) }
                        if k == "GNU.sparse.numbytes", let n = Self.decimal(v) { sparseLengths.append(n) }
                    }
                }
                continue
            default:
                break
            }
            var m = block.withUnsafeBytes { raw in Self.member(TarHeader(raw), typeflag: parsed.typeflag) }
            m.headerOffset = groupStart
            if let longName { m.path = longName }
            if let longLink { m.linkTarget = longLink }
            // Old archives mark a folder by a trailing "/" on a regular member.
            if parsed.typeflag == 0 || parsed.typeflag == 0x30, m.path.last == 0x2F { m.kind = .directory }
            var dataSize = headerSize
            // The header's own fields, then the global records, then this member's records.
            for (k, v) in globals.merging(pax, uniquingKeysWith: { $1 }) { Self.apply(k, v, to: &m, dataSize: &dataSize) }
            if parsed.typeflag == 0x53 {   // GNU old sparse: the map is in the header and extension blocks
                m.isSparse = true
                var runs = block.withUnsafeBytes { TarHeader($0).sparseEntries } ?? []
                var more = block[482] != 0
                while more {
                    let ext = try stream.read(offset, TarHeader.blockSize)
                    guard ext.count == TarHeader.blockSize else { return stop("the stream ends inside the sparse map at byte \(offset)") }
                    offset += UInt64(TarHeader.blockSize)
                    guard let e = ext.withUnsafeBytes({ TarHeader.sparseExtensionEntries($0) }) else {
                        return stop("the sparse map at byte \(offset - 512) is unreadable: no members are read after it")
                    }
                    runs += e
                    more = ext[504] != 0
                }
                m.sparseRuns = runs.map { TarMember.Run(offset: UInt64($0.offset), length: UInt64($0.length)) }
                if let real = block.withUnsafeBytes({ TarHeader($0).sparseRealSize }), real >= 0 { m.size = UInt64(real) }
            } else if let major = pax["GNU.sparse.major"], major == Array("1".utf8) {
                m.isSparse = true; m.sparseMapInData = true
            } else if let map = pax["GNU.sparse.map"] {
                m.isSparse = true
                let n = map.split(separator: 0x2C).map { Self.decimal(Array($0)) }
                guard n.count % 2 == 0, n.allSatisfy({ $0 != nil }) else {
                    return stop("the sparse map of the member at byte \(groupStart) is unreadable: no members are read after it")
                }
                m.sparseRuns = stride(from: 0, to: n.count, by: 2).map { TarMember.Run(offset: n[$0]!, length: n[$0 + 1]!) }
            } else if !sparseOffsets.isEmpty {
                m.isSparse = true
                m.sparseRuns = zip(sparseOffsets, sparseLengths).map { TarMember.Run(offset: $0, length: $1) }
            }
            // Hardlink, symlink, devices, folder, fifo carry no data (as §13.4 cuts them).
            if parsed.typeflag >= 0x31 && parsed.typeflag <= 0x36 { dataSize = 0 }
            if m.isSparse {
                if m.size == 0 { m.size = m.sparseRuns.map { $0.offset &+ $0.length }.max() ?? 0 }
            } else if m.kind != .directory {
                m.size = m.kind == .file || m.kind == .other ? dataSize : 0
            }
            m.dataOffset = offset
            m.dataSize = dataSize
            guard dataSize <= UInt64.max - 511 else { return stop("the member at byte \(groupStart) claims an impossible size") }
            let (next, overflow) = offset.addingReportingOverflow(Self.padded(dataSize))
            offset = overflow ? .max : next
            if offset > stream.length {
                warnings.append("the stream ends inside the data of \(FS.shown(m.path)) (byte \(stream.length))")
                done = true
            }
            return m
        }
    }

    static func padded(_ n: UInt64) -> UInt64 { (n + 511) & ~511 }

    /// The fields of a member header.
    static func member(_ h: TarHeader, typeflag t: UInt8) -> TarMember {
        let kind: TarMember.Kind
        switch t {
        case 0, 0x30, 0x37, 0x53: kind = .file
        case 0x31: kind = .hardlink
        case 0x32: kind = .symlink
        case 0x33: kind = .charDevice
        case 0x34: kind = .blockDevice
        case 0x35, 0x44: kind = .directory   // 'D': GNU dump folder (its data lists names)
        case 0x36: kind = .fifo
        default: kind = .other
        }
        var m = TarMember(kind: kind, typeflag: t, path: h.path)
        if kind == .hardlink || kind == .symlink { m.linkTarget = h.linkName }
        m.mode = UInt32(truncatingIfNeeded: (h.mode ?? 0) & 0o7777)
        m.uid = clamp(h.uid); m.gid = clamp(h.gid)
        m.user = h.userName; m.group = h.groupName
        m.mtime = Timestamp.nanoseconds(seconds: h.mtime ?? 0, nanos: 0)
        if kind == .charDevice || kind == .blockDevice { m.deviceMajor = clamp(h.deviceMajor); m.deviceMinor = clamp(h.deviceMinor) }
        return m
    }

    static func clamp(_ v: Int64?) -> UInt32 { UInt32(clamping: v ?? 0) }

    /// A pax record's effect on a member (POSIX keys, and the GNU sparse keys that name it).
    static func apply(_ key: String, _ v: [UInt8], to m: inout TarMember, dataSize: inout UInt64) {
        switch key {
        case "path": m.path = v
        case "linkpath": m.linkTarget = v
        case "size": if let n = decimal(v) { dataSize = n }
        case "uid": if let n = decimal(v) { m.uid = UInt32(clamping: n) }
        case "gid": if let n = decimal(v) { m.gid = UInt32(clamping: n) }
        case "uname": m.user = v
        case "gname": m.group = v
        case "mtime": if let t = time(v) { m.mtime = t }
        case "GNU.sparse.name": m.path = v
        case "GNU.sparse.size", "GNU.sparse.realsize": if let n = decimal(v) { m.size = n }
        default: break
        }
    }

    /// pax records (TarHeader.paxRecords): keys and values. Nil when malformed.
    static func paxRecords(_ d: [UInt8]) -> [(String, [UInt8])]? {
        var out: [(String, [UInt8])] = []
        let ok = d.withUnsafeBytes { b in
            TarHeader.paxRecords(b) { key, value in out.append((String(decoding: key, as: UTF8.self), Array(value))) }
        }
        return ok ? out : nil
    }

    static func decimal(_ v: [UInt8]) -> UInt64? { TarHeader.decimal(v) }

    /// A pax time: "[-]SECONDS[.FRACTION]" → ns, saturated.
    static func time(_ v: [UInt8]) -> Int64? {
        var s = v[...]
        let negative = s.first == 0x2D
        if negative { s = s.dropFirst() }
        let parts = s.split(separator: 0x2E, maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, let sec = decimal(Array(whole)) else { return nil }
        var nanos: Int64 = 0
        if parts.count == 2 {
            let frac = Array(parts[1].prefix(9))
            guard parts[1].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            for i in 0..<9 { nanos = nanos * 10 + (i < frac.count ? Int64(frac[i] - 0x30) : 0) }
        }
        let secs = Int64(clamping: sec)
        return negative ? Timestamp.nanoseconds(seconds: -secs, nanos: -nanos) : Timestamp.nanoseconds(seconds: secs, nanos: nanos)
    }
}

/// Member paths as tar extracts them: components split at "/", empty ones and "." dropped; a
/// leading "/" is removed (as GNU tar does, which says so); ".." makes the path unsafe.
public enum TarPath {
    public struct Normalized: Sendable, Equatable {
        public var components: [PathBytes]
        public var wasAbsolute: Bool
        /// A ".." component, or a NUL: never extracted.
        public var unsafe: Bool
        public var joined: PathBytes { components.joined(separator: [0x2F]).map { $0 } }
    }

    public static func normalize(_ p: PathBytes) -> Normalized {
        let parts = p.split(separator: 0x2F, omittingEmptySubsequences: true).map(Array.init).filter { $0 != [0x2E] }
        return Normalized(components: parts, wasAbsolute: p.first == 0x2F,
                          unsafe: parts.contains([0x2E, 0x2E]) || p.contains(0))
    }
}
