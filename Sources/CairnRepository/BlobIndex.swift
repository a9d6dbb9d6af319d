import CairnCore
import CairnFormat
import CairnCompression

/// One blob's location, 40 bytes, stored inline in a contiguous table (no per-blob objects).
///
/// Only the first 192 bits of the ID are kept: lookups always come with the full ID, and the
/// AEAD binds the full ID when a blob is opened, so a prefix collision (about 2^-140 for ten
/// million blobs, IDs being keyed MACs nobody outside can steer) would surface as an
/// authentication error, never as wrong data. The top bit of `plain` marks zstd compression.
public struct IndexedBlob: Sendable {
    var p0: UInt64, p1: UInt64, p2: UInt64
    public var pack: UInt32
    public var offset: UInt32
    public var storedLength: UInt32
    var plain: UInt32

    public var plainLength: UInt32 { plain & 0x7fff_ffff }
    public var compression: Compression { plain & 0x8000_0000 != 0 ? .zstd : .none }

    init(entry: BlobEntry, pack: UInt32) {
        p0 = entry.id.w0; p1 = entry.id.w1; p2 = entry.id.w2
        self.pack = pack; offset = UInt32(entry.offset); storedLength = entry.storedLength
        plain = entry.plainLength | (entry.compression == .zstd ? 0x8000_0000 : 0)
    }

    @inline(__always) func less(_ id: ID) -> Bool {
        p0 != id.w0 ? p0 < id.w0 : p1 != id.w1 ? p1 < id.w1 : p2 < id.w2
    }
    @inline(__always) func matches(_ id: ID) -> Bool { p0 == id.w0 && p1 == id.w1 && p2 == id.w2 }
    @inline(__always) static func before(_ a: IndexedBlob, _ b: IndexedBlob) -> Bool {
        a.p0 != b.p0 ? a.p0 < b.p0 : a.p1 != b.p1 ? a.p1 < b.p1 : a.p2 != b.p2 ? a.p2 < b.p2 : a.pack < b.pack
    }
    @inline(__always) func samePrefix(_ b: IndexedBlob) -> Bool { p0 == b.p0 && p1 == b.p1 && p2 == b.p2 }
}

/// Where a blob lives.
public struct BlobLocation: Sendable, Equatable {
    public var pack: ID
    public var entry: BlobEntry
}

/// The in-memory index: for each blob type a sorted contiguous table searched by binary
/// search, plus a small hash map of blobs added since the last merge.
public struct BlobIndex: Sendable {
    public private(set) var packIDs: [ID] = []
    var packNumbers: [ID: UInt32] = [:]
    var sorted: [[IndexedBlob]] = [[], []]
    var recent: [[ID: IndexedBlob]] = [[:], [:]]

    public init() {}

    public var count: Int { sorted[0].count + sorted[1].count + recent[0].count + recent[1].count }
    public func count(_ type: BlobType) -> Int { sorted[Int(type.rawValue)].count + recent[Int(type.rawValue)].count }
    public var packCount: Int { packIDs.count }

    mutating func packNumber(_ id: ID) -> UInt32 {
        if let n = packNumbers[id] { return n }
        let n = UInt32(packIDs.count); packIDs.append(id); packNumbers[id] = n; return n
    }

    public func hasPack(_ id: ID) -> Bool { packNumbers[id] != nil }

    /// Adds every blob of an index file (bulk; call `finishBulkLoad` afterwards).
    public mutating func addBulk(_ file: IndexFile) {
        for p in file.packs {
            let n = packNumber(p.id)
            for b in p.blobs where b.offset <= UInt64(UInt32.max) {
                sorted[Int(b.type.rawValue)].append(IndexedBlob(entry: b, pack: n))
            }
        }
    }

    public mutating func finishBulkLoad() {
        for t in 0..<2 {
            // Ties broken by pack number so the kept location is deterministic.
            sorted[t].sort(by: IndexedBlob.before)
            // Keep one location of a blob stored twice (in place, no second table).
            var n = 0
            for i in sorted[t].indices where n == 0 || !sorted[t][n - 1].samePrefix(sorted[t][i]) {
                sorted[t][n] = sorted[t][i]; n += 1
            }
            sorted[t].removeLast(sorted[t].count - n)
            // Drop the growth slack (up to 2x): the table is what stays resident.
            if sorted[t].capacity > n + n / 16 + 16 { sorted[t] = Array(sorted[t]) }
        }
    }

    /// Adds a freshly written pack's blobs.
    public mutating func add(pack: ID, blobs: [BlobEntry]) {
        let n = packNumber(pack)
        for b in blobs {
            let t = Int(b.type.rawValue)
            if find(sorted[t], b.id) == nil && recent[t][b.id] == nil { recent[t][b.id] = IndexedBlob(entry: b, pack: n) }
        }
        if recent[0].count + recent[1].count > 1 << 16 { merge() }
    }

    mutating func merge() {
        for t in 0..<2 where !recent[t].isEmpty {
            sorted[t].append(contentsOf: recent[t].values)
            sorted[t].sort(by: IndexedBlob.before)
            recent[t].removeAll(keepingCapacity: true)
        }
    }

    /// Interpolation search on the first ID word (blob IDs are MACs, so uniformly spread:
    /// a few probes instead of ~24 for ten million blobs), then binary search if it stalls.
    func find(_ table: [IndexedBlob], _ id: ID) -> IndexedBlob? {
        table.withUnsafeBufferPointer { t -> IndexedBlob? in
            var lo = 0, hi = t.count
            var probes = 0
            while hi - lo > 64 && probes < 6 {
                let a = t[lo].p0, b = t[hi - 1].p0
                if id.w0 < a || id.w0 > b { return nil }
                if a == b { break }
                let frac = Double(id.w0 - a) / Double(b - a)
                let pos = min(hi - 1, lo + Int(frac * Double(hi - 1 - lo)))
                if t[pos].matches(id) { return t[pos] }
                if t[pos].less(id) { lo = pos + 1 } else { hi = pos }
                probes += 1
            }
            while lo < hi {
                let mid = (lo &+ hi) >> 1
                if t[mid].matches(id) { return t[mid] }
                if t[mid].less(id) { lo = mid + 1 } else { hi = mid }
            }
            return nil
        }
    }

    public func contains(_ type: BlobType, _ id: ID) -> Bool { lookupRaw(type, id) != nil }

    func lookupRaw(_ type: BlobType, _ id: ID) -> IndexedBlob? {
        let t = Int(type.rawValue)
        if !recent[t].isEmpty, let r = recent[t][id] { return r }   // skip hashing when empty
        return find(sorted[t], id)
    }

    public func lookup(_ type: BlobType, _ id: ID) -> BlobLocation? {
        guard let b = lookupRaw(type, id) else { return nil }
        return BlobLocation(pack: packIDs[Int(b.pack)],
                            entry: BlobEntry(type: type, compression: b.compression, storedLength: b.storedLength,
                                             offset: UInt64(b.offset), plainLength: b.plainLength, id: id))
    }
}
