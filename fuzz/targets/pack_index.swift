// libFuzzer target: PackHeader.decodePlain and IndexFile.decode (Sources/CairnFormat/
// PackHeader.swift, IndexFile.swift, Blob.swift) on the same arbitrary bytes. Both formats start
// with version byte 1, so the seeds of either serve both decoders.
//
// Checks, for every input a decoder accepts: re-encoding gives back exactly the input (both
// encodings are canonical: every field is kept, reserved bits must be 0), and the header checks
// built on the decoded value (validate, headerLength) run without trapping.
import CairnCore
import CairnCrypto
import CairnFormat
#if canImport(Glibc)
import Glibc
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPackIndex(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzBytes(data, size)

    if let header = try? PackHeader.decodePlain(input) {
        if header.encodePlain() != input { fuzzFail("PackHeader.encodePlain(decodePlain(x)) != x") }
        if (try? PackHeader.decodePlain(header.encodePlain())) != header { fuzzFail("pack header round trip") }
        let covered = header.entries.reduce(UInt64(0)) { $0 + UInt64($1.storedLength) }
        _ = try? header.validate(blobArea: covered)
        _ = try? header.validate(blobArea: UInt64(size))
        // Entries written by a packer tile the pack from 0: validate must accept exactly those.
        var expect: UInt64 = 0
        var contiguous = true
        for e in header.entries { if e.offset != expect { contiguous = false }; expect += UInt64(e.storedLength) }
        let accepted = (try? header.validate(blobArea: covered)) != nil
        if accepted != contiguous { fuzzFail("validate(blobArea:) accepted=\(accepted) for contiguous=\(contiguous)") }
    }

    if let index = try? IndexFile.decode(input) {
        if index.encode() != input { fuzzFail("IndexFile.encode(decode(x)) != x") }
        if (try? IndexFile.decode(index.encode())) != index { fuzzFail("index round trip") }
        _ = index.blobCount
    }

    if size >= 4 {
        let trailer = Array(input[(size - 4)...])
        if let n = try? PackHeader.headerLength(trailer: trailer, packSize: UInt64(size)) {
            if n < AESGCM.overhead + 5 || n + 4 > size { fuzzFail("headerLength \(n) outside the pack of \(size) bytes") }
        }
    }
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzPackIndexInitialize(_ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    writeSeedsIfAsked(packIndexSeeds(), vectors: { $0.packHeaders + $0.payloads(.index) })
    return 0
}

func packIndexSeeds() -> [[UInt8]] {
    let id = { (b: UInt8) in ID(seedID(b)) }
    let e1 = BlobEntry(type: .data, compression: .zstd, storedLength: 1_000, offset: 0, plainLength: 4_000, id: id(1))
    let e2 = BlobEntry(type: .data, compression: .none, storedLength: 65_564, offset: 1_000, plainLength: 65_536, id: id(2))
    let e3 = BlobEntry(type: .tree, compression: .zstd, storedLength: 300, offset: 66_564, plainLength: 900, id: id(3))
    let e4 = BlobEntry(type: .data, compression: .none, storedLength: 28, offset: 0, plainLength: 0, id: id(4))
    return [
        PackHeader(entries: []).encodePlain(),
        PackHeader(entries: [e1]).encodePlain(),
        PackHeader(entries: [e1, e2]).encodePlain(),
        PackHeader(entries: [e3]).encodePlain(),
        IndexFile(packs: []).encode(),
        IndexFile(packs: [.init(id: id(100), blobs: [e1, e2])]).encode(),
        IndexFile(supersedes: [id(50), id(60)],
                  packs: [.init(id: id(100), blobs: [e1, e2]), .init(id: id(101), blobs: [e3]),
                          .init(id: id(102), blobs: [])]).encode(),
        IndexFile(packs: [.init(id: id(103), blobs: [e4])]).encode(),
    ]
}
