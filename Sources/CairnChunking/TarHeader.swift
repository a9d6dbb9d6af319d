/// One 512-byte tar header block (v7, ustar, GNU, pax), read in place: no copies.
///
/// Only what chunking needs: is the block a header (checksum), how many bytes follow it, and
/// whether those bytes belong to the header group (GNU long name/link, pax records) or are a
/// member's data.
public struct TarHeader {
    public static let blockSize = 512
    let p: UnsafePointer<UInt8>

    /// `block` must hold at least 512 bytes.
    public init(_ block: UnsafeRawBufferPointer) {
        precondition(block.count >= TarHeader.blockSize)
        p = block.baseAddress!.assumingMemoryBound(to: UInt8.self)
    }

    public var typeflag: UInt8 { p[156] }

    /// Every byte zero: an end-of-archive block.
    public var isZero: Bool {
        for i in 0..<TarHeader.blockSize where p[i] != 0 { return false }
        return true
    }

    /// "ustar\0" (POSIX) or "ustar " (GNU) at offset 257.
    public var hasUstarMagic: Bool {
        p[257] == 0x75 && p[258] == 0x73 && p[259] == 0x74 && p[260] == 0x61 && p[261] == 0x72
            && (p[262] == 0 || p[262] == 0x20)
    }

    /// The stored checksum equals the sum of the block's bytes with the checksum field read as
    /// spaces (unsigned, or signed as some old writers did).
    public var checksumIsValid: Bool {
        guard let stored = TarHeader.octal(p + 148, 8) else { return false }
        var unsigned = 0, signed = 0
        for i in 0..<TarHeader.blockSize {
            let b = (148..<156).contains(i) ? 0x20 : p[i]
            unsigned += Int(b); signed += Int(Int8(bitPattern: b))
        }
        return stored == unsigned || stored == signed
    }

    /// The size field: octal, or GNU base-256 (high bit of the first byte set). Nil when
    /// unreadable or negative.
    public var size: UInt64? {
        if p[124] & 0x80 != 0 {
            guard p[124] & 0x40 == 0 else { return nil }   // negative
            var v: UInt64 = UInt64(p[124] & 0x3F)
            for i in 125..<136 {
                guard v >> 56 == 0 else { return nil }
                v = v << 8 | UInt64(p[i])
            }
            return v
        }
        return TarHeader.octal(p + 124, 12).map { UInt64($0) }
    }

    /// A header a stream may start with: valid checksum, a readable size, and either the ustar
    /// magic or a v7 header (a name, a v7 typeflag, all-zero magic field).
    public var isPlausibleFirst: Bool {
        guard checksumIsValid, size != nil else { return false }
        if hasUstarMagic { return true }
        let t = typeflag
        guard p[0] != 0, t == 0 || (t >= 0x30 && t <= 0x37) else { return false }
        for i in 257..<265 where p[i] != 0 { return false }
        return true
    }

    /// GNU long name ('L') / long link ('K'), pax extended ('x', Solaris 'X') and global ('g')
    /// records: their data belongs to the header group of the member that follows.
    public var isGroupRecord: Bool {
        let t = typeflag
        return t == 0x4C || t == 0x4B || t == 0x78 || t == 0x58 || t == 0x67
    }

    /// GNU old sparse member ('S') whose header is followed by extension blocks.
    public var isExtendedSparse: Bool { typeflag == 0x53 && p[482] != 0 }

    /// Bytes after this header that belong to it (data padded to 512): none for hardlink,
    /// symlink, char, block, directory and fifo ('1'...'6'); the size field otherwise (for a
    /// GNU sparse member, the stored size). Nil when the size field is unreadable.
    public var paddedDataSize: UInt64? {
        let t = typeflag
        if t >= 0x31 && t <= 0x36 { return 0 }
        guard let s = size, s <= UInt64.max - 511 else { return nil }
        return (s + 511) & ~511
    }

    /// Walks pax extended header records (`LEN KEY=VALUE\n`, LEN counting the whole record
    /// in decimal), calling `visit` with each key and value; a NUL where a record would start
    /// ends them (padding some writers leave). False when a record is malformed: the records
    /// before it have been visited, none after it.
    @discardableResult
    public static func paxRecords(_ d: UnsafeRawBufferPointer,
                                  _ visit: (_ key: Slice<UnsafeRawBufferPointer>, _ value: Slice<UnsafeRawBufferPointer>) -> Void) -> Bool {
        var i = 0
        while i < d.count {
            if d[i] == 0 { break }
            var len = 0, j = i
            while j < d.count, d[j] >= 0x30, d[j] <= 0x39, len < 1 << 24 { len = len * 10 + Int(d[j] - 0x30); j += 1 }
            guard j < d.count, d[j] == 0x20, j > i, len > j - i + 1, i + len <= d.count, d[i + len - 1] == 0x0A else { return false }
            let body = d[(j + 1)..<(i + len - 1)]
            guard let eq = body.firstIndex(of: 0x3D) else { return false }
            visit(body[..<eq], body[(eq + 1)...])
            i += len
        }
        return true
    }

    /// The last `size` record in pax extended header data (before any malformed record).
    public enum PaxSize: Equatable {
        case none
        case valid(UInt64)
        /// Not a decimal number (negative, other characters), or more than a member can hold
        /// (the size padded to 512 must fit in 64 bits): the value as written.
        case invalid([UInt8])
    }

    public static func paxSize(_ d: UnsafeRawBufferPointer) -> PaxSize {
        var found = PaxSize.none
        paxRecords(d) { key, value in
            if key.elementsEqual("size".utf8) { found = paxSize(value: value) }
        }
        return found
    }

    /// One `size` record's value, checked.
    public static func paxSize(value: some Collection<UInt8>) -> PaxSize {
        guard let n = decimal(value), n <= UInt64.max - 511 else { return .invalid(Array(value.prefix(40))) }
        return .valid(n)
    }

    /// A decimal number of 1 … 20 digits that fits in 64 bits; nil otherwise.
    public static func decimal(_ v: some Collection<UInt8>) -> UInt64? {
        guard !v.isEmpty, v.count <= 20 else { return nil }
        var n: UInt64 = 0
        for b in v {
            guard b >= 0x30, b <= 0x39 else { return nil }
            let (m, o1) = n.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(b - 0x30))
            guard !o1, !o2 else { return nil }
            n = s
        }
        return n
    }

    /// An octal field: leading spaces/NULs, octal digits, then NUL or space or the field's end.
    static func octal(_ f: UnsafePointer<UInt8>, _ width: Int) -> Int? {
        var i = 0
        while i < width && (f[i] == 0x20 || f[i] == 0) { i += 1 }
        if i == width { return 0 }
        var v = 0, digits = 0
        while i < width, f[i] >= 0x30, f[i] <= 0x37 {
            guard v >> 58 == 0 else { return nil }
            v = v << 3 | Int(f[i] - 0x30); i += 1; digits += 1
        }
        guard digits > 0 else { return nil }
        while i < width {
            guard f[i] == 0 || f[i] == 0x20 else { return nil }
            i += 1
        }
        return v
    }

    // MARK: fields for readers of members (format-spec §13.5)

    /// POSIX ustar ("ustar\0" then "00"): only then is bytes 345 … 499 a name prefix (GNU
    /// headers keep times and sparse data there).
    public var isPOSIXUstar: Bool { hasUstarMagic && p[262] == 0 }

    /// The bytes of a text field up to its first NUL.
    public func text(_ offset: Int, _ width: Int) -> [UInt8] {
        var out: [UInt8] = []
        for i in offset..<offset + width { if p[i] == 0 { break }; out.append(p[i]) }
        return out
    }

    /// A numeric field: octal (as the checksum), or base-256 (first byte's bit 7 set; the other
    /// bits a big-endian two's complement number, bit 6 its sign). Nil when unreadable or
    /// outside Int64.
    public func number(_ offset: Int, _ width: Int) -> Int64? { TarHeader.number(p + offset, width) }

    static func number(_ f: UnsafePointer<UInt8>, _ width: Int) -> Int64? {
        guard f[0] & 0x80 != 0 else { return octal(f, width).map { Int64($0) } }
        let negative = f[0] & 0x40 != 0
        let sign: UInt64 = negative ? 0xFF : 0
        var v: UInt64 = negative ? ~0 : 0
        for i in 0..<width {
            guard v >> 56 == sign else { return nil }   // a significant byte would be shifted out
            v = v << 8 | UInt64(i == 0 ? (negative ? f[0] : f[0] & 0x7F) : f[i])
        }
        let s = Int64(bitPattern: v)
        return (s < 0) == negative ? s : nil
    }

    /// Name (0, 100), with the POSIX prefix (345, 155) and "/" before it when present.
    public var path: [UInt8] {
        let name = text(0, 100)
        guard isPOSIXUstar else { return name }
        let prefix = text(345, 155)
        return prefix.isEmpty ? name : prefix + [0x2F] + name
    }
    public var linkName: [UInt8] { text(157, 100) }
    public var mode: Int64? { number(100, 8) }
    public var uid: Int64? { number(108, 8) }
    public var gid: Int64? { number(116, 8) }
    public var mtime: Int64? { number(136, 12) }
    public var userName: [UInt8] { hasUstarMagic ? text(265, 32) : [] }
    public var groupName: [UInt8] { hasUstarMagic ? text(297, 32) : [] }
    public var deviceMajor: Int64? { number(329, 8) }
    public var deviceMinor: Int64? { number(337, 8) }

    /// GNU old sparse ('S'): the file's real size (483, 12) and the four map entries at 386
    /// (offset, length; 12 bytes each); an entry of zeros ends the map.
    public var sparseRealSize: Int64? { number(483, 12) }
    public var sparseEntries: [(offset: Int64, length: Int64)]? { TarHeader.sparseEntries(p + 386, count: 4) }

    /// The 21 map entries of a GNU sparse extension block (each 24 bytes from offset 0).
    public static func sparseExtensionEntries(_ block: UnsafeRawBufferPointer) -> [(offset: Int64, length: Int64)]? {
        sparseEntries(block.baseAddress!.assumingMemoryBound(to: UInt8.self), count: 21)
    }

    public static func sparseExtensionContinues(_ block: UnsafeRawBufferPointer) -> Bool { extensionContinues(block) }

    static func sparseEntries(_ f: UnsafePointer<UInt8>, count: Int) -> [(offset: Int64, length: Int64)]? {
        var out: [(offset: Int64, length: Int64)] = []
        for i in 0..<count {
            let e = f + i * 24
            if e[0] == 0 && e[12] == 0 { break }
            guard let o = number(e, 12), let n = number(e + 12, 12), o >= 0, n >= 0 else { return nil }
            out.append((o, n))
        }
        return out
    }

    /// GNU sparse extension block: more blocks follow when byte 504 is non-zero.
    static func extensionContinues(_ block: UnsafeRawBufferPointer) -> Bool {
        block[504] != 0
    }
}
