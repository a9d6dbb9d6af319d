import CairnCore

/// An index file (`index/<sha256>`, in an envelope, usually zstd-compressed):
///
///     version u8 (1) | supersedes_count u32 | supersedes_count x id [32] |
///     pack_count u32 | pack_count x (pack_id [32] | blob_count u32 | blob_count x BlobEntry)
///
/// `supersedes` names index files whose content this one includes (written by prune and
/// repair; readers may ignore the listed files once this one is loaded).
public struct IndexFile: Sendable, Equatable {
    public struct Pack: Sendable, Equatable {
        public var id: ID
        public var blobs: [BlobEntry]
        public init(id: ID, blobs: [BlobEntry]) { self.id = id; self.blobs = blobs }
    }
    public var supersedes: [ID]
    public var packs: [Pack]
    public init(supersedes: [ID] = [], packs: [Pack]) { self.supersedes = supersedes; self.packs = packs }

    public var blobCount: Int { packs.reduce(0) { $0 + $1.blobs.count } }

    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: 16 + packs.count * 40 + blobCount * BlobEntry.encodedSize)
        w.u8(1)
        w.u32(UInt32(supersedes.count)); for s in supersedes { w.id(s) }
        w.u32(UInt32(packs.count))
        for p in packs {
            w.id(p.id); w.u32(UInt32(p.blobs.count))
            for b in p.blobs { b.encode(into: &w) }
        }
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws -> IndexFile {
        var r = ByteReader(bytes)
        let v = try r.u8("index version")
        guard v == 1 else { throw FormatError.unsupportedVersion("index", Int(v)) }
        let ns = Int(try r.u32("supersedes count"))
        guard ns <= r.remaining / 32 else { throw FormatError.invalid("supersedes count \(ns) exceeds the file") }
        var sup = [ID](); sup.reserveCapacity(ns)
        for _ in 0..<ns { sup.append(try r.id()) }
        let np = Int(try r.u32("pack count"))
        guard np <= r.remaining / 36 else { throw FormatError.invalid("pack count \(np) exceeds the file") }
        var packs = [Pack](); packs.reserveCapacity(np)
        for _ in 0..<np {
            let id = try r.id("pack id")
            let nb = Int(try r.u32("blob count"))
            guard nb <= r.remaining / BlobEntry.encodedSize else { throw FormatError.invalid("blob count \(nb) exceeds the file") }
            var blobs = [BlobEntry](); blobs.reserveCapacity(nb)
            for _ in 0..<nb { blobs.append(try BlobEntry.decode(from: &r)) }
            packs.append(Pack(id: id, blobs: blobs))
        }
        guard r.atEnd else { throw FormatError.invalid("\(r.remaining) trailing bytes after index") }
        return IndexFile(supersedes: sup, packs: packs)
    }
}
