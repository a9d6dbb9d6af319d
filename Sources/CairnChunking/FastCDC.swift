import CairnCore

/// FastCDC with normalized chunking, level 2 (Xia et al., USENIX ATC 2016 / TPDS 2020).
///
/// The fingerprint is `fp = (fp << 1) &+ gear[byte]`; a boundary is declared after a byte when
/// `fp & mask == 0`. Masks select the *top* bits of `fp` (the bits that depend on the last 64
/// bytes): `maskS` has `bits + 2` top bits set and is used below the average size, `maskL` has
/// `bits - 2` top bits set and is used from the average size on. Hashing starts at `min`.
public struct FastCDC: Sendable {
    public let parameters: ChunkerParameters
    public let gear: GearTable
    public let maskS: UInt64
    public let maskL: UInt64

    public init(parameters: ChunkerParameters, gear: GearTable) {
        self.parameters = parameters
        self.gear = gear
        let bits = parameters.bits
        maskS = FastCDC.topMask(bits + 2)
        maskL = FastCDC.topMask(bits - 2)
    }

    static func topMask(_ n: Int) -> UInt64 { n <= 0 ? 0 : ~UInt64(0) << UInt64(64 - n) }

    /// Length of the chunk that starts at the beginning of `data`. When `data` holds fewer than
    /// `max` bytes it must be the end of the stream.
    public func cut(_ data: UnsafeRawBufferPointer) -> Int {
        let count = data.count
        let minSize = parameters.min
        if count <= minSize { return count }
        let end = Swift.min(count, parameters.max)
        let normal = Swift.min(parameters.avg, end)
        let p = data.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let ms = maskS, ml = maskL
        return gear.values.withUnsafeBufferPointer { gb -> Int in
            let g = gb.baseAddress!
            var fp: UInt64 = 0
            var i = minSize
            // Four bytes per step: the four fingerprints are computed from `fp` and the gear
            // values directly, so a step waits on one dependency instead of four. Identical
            // cut points to the byte-at-a-time definition (checked by the spec's vectors).
            @inline(__always) func scan(_ limit: Int, _ mask: UInt64) -> Int? {
                while i + 4 <= limit {
                    let g0 = g[Int(p[i])], g1 = g[Int(p[i + 1])], g2 = g[Int(p[i + 2])], g3 = g[Int(p[i + 3])]
                    let f0 = (fp &<< 1) &+ g0
                    let f1 = (fp &<< 2) &+ ((g0 &<< 1) &+ g1)
                    let t2 = (g0 &<< 2) &+ (g1 &<< 1) &+ g2
                    let f2 = (fp &<< 3) &+ t2
                    let f3 = (fp &<< 4) &+ ((t2 &<< 1) &+ g3)
                    if (f0 & mask) == 0 || (f1 & mask) == 0 || (f2 & mask) == 0 || (f3 & mask) == 0 {
                        if f0 & mask == 0 { return i + 1 }
                        if f1 & mask == 0 { return i + 2 }
                        if f2 & mask == 0 { return i + 3 }
                        return i + 4
                    }
                    fp = f3; i += 4
                }
                while i < limit {
                    fp = (fp &<< 1) &+ g[Int(p[i])]; i += 1
                    if fp & mask == 0 { return i }
                }
                return nil
            }
            if let r = scan(normal, ms) { return r }
            if let r = scan(end, ml) { return r }
            return end
        }
    }
}

/// Cuts a stream of any length into chunks with bounded memory: one buffer of
/// `bufferSize` (at least 2 x max) bytes, refilled from `read`.
public struct StreamChunker {
    public let cdc: FastCDC
    public let bufferSize: Int

    public init(cdc: FastCDC, bufferSize: Int = 0) {
        self.cdc = cdc
        self.bufferSize = Swift.max(bufferSize, cdc.parameters.max * 4, 1 << 20)
    }

    /// `read` fills the buffer it is given and returns the byte count (0 at end of stream).
    /// `chunk` receives each chunk; the buffer is only valid during the call.
    public func run(read: (UnsafeMutableRawBufferPointer) throws -> Int,
                    chunk: (UnsafeRawBufferPointer) throws -> Void) throws {
        try run(cut: { cdc.cut($0) }, read: read, chunk: chunk)
    }

    /// Like `run(read:chunk:)`, with cut points from a tar-aware cutter (spec §13.4).
    public func run(cutter: inout TarCutter, read: (UnsafeMutableRawBufferPointer) throws -> Int,
                    chunk: (UnsafeRawBufferPointer) throws -> Void) throws {
        try run(cut: { cutter.cut($0) }, read: read, chunk: chunk)
    }

    /// Like `run(read:chunk:)` (plain FastCDC), for a source that knows where it has runs of
    /// zeros without reading them (a file's holes): `zeros(offset)` is how many bytes from
    /// stream offset `offset` are known to be zero. A chunk that starts in such a run with at
    /// least `max` zeros ahead is cut without scanning — FastCDC cuts every run of `max` zeros at
    /// the same point, so the cuts are those of a full scan — and `chunk` is told it is all zeros.
    public func run(read: (UnsafeMutableRawBufferPointer) throws -> Int, zeros: (UInt64) -> UInt64,
                    chunk: (UnsafeRawBufferPointer, _ allZero: Bool) throws -> Void) throws {
        let maxSize = cdc.parameters.max
        var zeroCut: Int?
        var position: UInt64 = 0
        var lastWasZero = false
        try run(cut: { w in
            let n: Int
            if w.count >= maxSize && zeros(position) >= UInt64(maxSize) {
                if zeroCut == nil {
                    let z = UnsafeMutableRawBufferPointer.allocate(byteCount: maxSize, alignment: 16)
                    defer { z.deallocate() }
                    z.initializeMemory(as: UInt8.self, repeating: 0)
                    zeroCut = cdc.cut(UnsafeRawBufferPointer(z))
                }
                n = zeroCut!; lastWasZero = true
            } else {
                n = cdc.cut(w); lastWasZero = false
            }
            position += UInt64(n)
            return n
        }, read: read, chunk: { try chunk($0, lastWasZero) })
    }

    /// `cut` gets the bytes from the next chunk's start: at least `max` of them unless at the
    /// end of the stream.
    func run(cut: (UnsafeRawBufferPointer) -> Int, read: (UnsafeMutableRawBufferPointer) throws -> Int,
             chunk: (UnsafeRawBufferPointer) throws -> Void) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
        defer { buffer.deallocate() }
        var start = 0, end = 0
        var eof = false
        let maxSize = cdc.parameters.max
        while true {
            if !eof && end - start < maxSize {
                if start > 0 {
                    if end > start { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: end - start) }
                    end -= start; start = 0
                }
                while end < bufferSize {
                    let n = try read(UnsafeMutableRawBufferPointer(rebasing: buffer[end...]))
                    if n == 0 { eof = true; break }
                    end += n
                }
            }
            if start == end { return }
            let window = UnsafeRawBufferPointer(rebasing: buffer[start..<end])
            let n = cut(window)
            try chunk(UnsafeRawBufferPointer(rebasing: window[0..<n]))
            start += n
        }
    }

    /// Cut points (chunk end offsets) of an in-memory buffer; used by test vectors.
    public func cutPoints(_ data: [UInt8]) -> [Int] {
        var points: [Int] = []
        var pos = 0
        data.withUnsafeBytes { d in
            while pos < d.count {
                let n = cdc.cut(UnsafeRawBufferPointer(rebasing: d[pos...]))
                pos += n; points.append(pos)
            }
        }
        return points
    }
}
