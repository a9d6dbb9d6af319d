// libFuzzer target: the decryption side of repository files and blobs past authentication
// (Sources/CairnFormat/Envelope.swift, Blob.swift, Sources/CairnCompression/Zstd.swift), where
// only a key holder can put bytes, but where a bug would still corrupt or crash a restore.
//
// The input is taken as the *plaintext* a key holder sealed: the target seals it with a fixed
// key, then runs the real open paths on it:
//  - Envelope.open (compression flag byte + payload or zstd frame) and, on success,
//    IndexFile.decode and Tree.decode of the payload (how index files and trees are read);
//  - BlobCodec.open with a header entry claiming zstd and a plain length taken from the
//    input's first 2 bytes (kept small so each run stays fast; headers allow up to 1 GiB).
import CairnCore
import CairnCrypto
import CairnCompression
import CairnFormat
#if canImport(Glibc)
import Glibc
#endif

/// Nonces from a counter: determinism is all the target needs.
struct CounterRandom: RandomSource {
    func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        for i in buffer.indices { buffer[i] = UInt8(truncatingIfNeeded: i &* 31) }
    }
}

let fuzzKey = MasterKey(encryptionKey: seedID(1), idKey: seedID(2), chunkerKey: seedID(3))

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEnvelope(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzBytes(data, size)
    let random = CounterRandom()

    // Repository file: the input is the envelope's plaintext (flag byte + payload).
    let sealed = fuzzKey.aead.seal(input, aad: Envelope.aad(.index), random: random)
    if let payload = try? Envelope.open(sealed, type: .index, key: fuzzKey) {
        if input.first == Compression.none.rawValue && payload != Array(input.dropFirst()) {
            fuzzFail("uncompressed envelope payload differs from what was sealed")
        }
        _ = try? IndexFile.decode(payload)
        _ = try? Tree.decode(payload)
        // What seal() writes must open to the same payload.
        let resealed = Envelope.seal(payload, type: .index, key: fuzzKey, compress: true, random: random)
        guard let reopened = try? Envelope.open(resealed, type: .index, key: fuzzKey), reopened == payload else {
            fuzzFail("Envelope.seal then open does not give the payload back")
        }
    }
    if (try? Envelope.open(sealed, type: .snapshot, key: fuzzKey)) != nil {
        fuzzFail("an index envelope opened as a snapshot")
    }

    // Blob: the input minus 2 bytes is the stored payload, claimed to be a zstd frame.
    if size >= 2 {
        let plainLength = UInt32(input[0]) | UInt32(input[1]) << 8
        let payload = Array(input[2...])
        let id = ID(seedID(9))
        let storedBlob = fuzzKey.aead.seal(payload, aad: BlobCodec.aad(type: .tree, id: id), random: random)
        for compression in [Compression.zstd, .none] {
            let entry = BlobEntry(type: .tree, compression: compression, storedLength: UInt32(storedBlob.count),
                                  offset: 0, plainLength: plainLength, id: id)
            if let plain = try? storedBlob.withUnsafeBytes({ try BlobCodec.open($0, entry: entry, key: fuzzKey) }) {
                if plain.count != Int(plainLength) { fuzzFail("blob opened to \(plain.count) bytes, entry says \(plainLength)") }
                if compression == .none && plain != payload { fuzzFail("uncompressed blob changed") }
            }
        }
    }
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzEnvelopeInitialize(_ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    writeSeedsIfAsked(envelopeSeeds(), vectors: { v in
        // Envelope plaintexts as stored, and each tree blob as a blob input (2-byte plain
        // length + stored payload).
        v.envelopes.map(\.plaintext)
            + v.blobs.filter { $0.entry.type == .tree && $0.entry.plainLength < 1 << 16 }
                     .map { [UInt8($0.entry.plainLength & 0xFF), UInt8($0.entry.plainLength >> 8)] + $0.payload }
    })
    return 0
}

/// Envelope plaintexts (flag + payload) made by the real sealing code, then opened with the key.
func envelopeSeeds() -> [[UInt8]] {
    let e1 = BlobEntry(type: .data, compression: .zstd, storedLength: 1_000, offset: 0, plainLength: 4_000, id: ID(seedID(1)))
    let index = IndexFile(supersedes: [ID(seedID(7))], packs: [.init(id: ID(seedID(100)), blobs: [e1, e1, e1])]).encode()
    let tree = Tree(nodes: [Node(name: Array("x".utf8), type: .file, content: .chunks([ID(seedID(5))]))]).encode()
    let text = Array(String(repeating: "cairn backup ", count: 40).utf8)
    func plaintext(_ payload: [UInt8], compress: Bool) -> [UInt8] {
        let sealed = Envelope.seal(payload, type: .index, key: fuzzKey, compress: compress, random: CounterRandom())
        return (try? fuzzKey.aead.open(sealed, aad: Envelope.aad(.index), what: "seed")) ?? []
    }
    // A blob seed: 2-byte plain length then a zstd frame of it.
    func blob(_ plain: [UInt8]) -> [UInt8] {
        let c = ZstdCompressor(level: 3)
        var out = [UInt8](repeating: 0, count: ZstdCompressor.bound(plain.count))
        let n = out.withUnsafeMutableBytes { o in plain.withUnsafeBytes { c.compress($0, into: o)! } }
        return [UInt8(plain.count & 0xFF), UInt8(plain.count >> 8)] + out[0..<n]
    }
    return [
        plaintext(index, compress: false),
        plaintext(index, compress: true),
        plaintext(tree, compress: true),
        plaintext(text, compress: true),
        plaintext([], compress: false),
        blob(text),
        blob(tree),
    ]
}
