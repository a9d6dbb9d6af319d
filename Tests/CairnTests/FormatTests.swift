import CairnCore
import CairnCrypto
import CairnCompression
import CairnFormat
import Testing

@Suite struct FormatTests {
    let key = MasterKey.generate(random: SeededRandom(seed: "format tests"))
    let random = SeededRandom(seed: "nonces")

    static func sampleTree(_ n: Int, seed: String) -> Tree {
        let r = SeededRandom(seed: seed)
        var nodes: [Node] = []
        for i in 0..<n {
            let b = r.bytes(8)
            var node = Node(name: Array("n\(i)-".utf8) + b.map { $0 | 1 }.filter { $0 != 47 }, type: [.file, .directory, .symlink, .fifo][Int(b[0]) % 4])
            node.mode = UInt32(b[1]) | 0o600; node.uid = UInt32(b[2]); node.mtime = Int64(b[3]) * 1_000_000_007 - 5
            node.xattrs = [Xattr(name: Array("user.b".utf8), value: [b[4]]), Xattr(name: Array("user.a".utf8), value: [])]
            switch node.type {
            case .file: node.content = .chunks((0..<Int(b[5] % 5)).map { _ in ID(r.bytes(32)) }); node.size = UInt64(b[6])
            case .directory: node.content = .subtree(ID(r.bytes(32)))
            case .symlink: node.linkTarget = Array("../target".utf8)
            default: break
            }
            nodes.append(node)
        }
        var t = Tree(nodes: nodes); t.sort(); return t
    }

    @Test func treeRoundTripsAndIsCanonical() throws {
        for n in [0, 1, 7, 50] {
            let t = Self.sampleTree(n, seed: "tree \(n)")
            let bytes = t.encode()
            let back = try Tree.decode(bytes)
            #expect(back == t)
            #expect(back.encode() == bytes)
        }
    }

    @Test func treeRejectsUnsortedNodes() {
        var t = Self.sampleTree(3, seed: "unsorted")
        t.nodes.reverse()
        #expect(throws: FormatError.self) { try Tree.decode(t.encode()) }
    }

    @Test func treeRejectsContentThatDoesNotFitTheNodeType() {
        let id = ID(Array(repeating: 7, count: 32))
        let bad: [Node] = [
            Node(name: Array("f".utf8), type: .file, content: .subtree(id)),
            Node(name: Array("d".utf8), type: .directory, content: .chunks([id])),
            Node(name: Array("l".utf8), type: .symlink, content: .chunks([])),
            Node(name: Array("p".utf8), type: .fifo, content: .subtree(id)),
        ]
        for n in bad { #expect(throws: FormatError.self, "\(n.type)") { try Tree.decode(Tree(nodes: [n]).encode()) } }
        let good = Tree(nodes: [Node(name: Array("d".utf8), type: .directory, content: .subtree(id)),
                                Node(name: Array("f".utf8), type: .file, content: .chunks([id])),
                                Node(name: Array("l".utf8), type: .symlink, content: .none)])
        #expect((try? Tree.decode(good.encode())) == good)
    }

    @Test func everyTruncationOfATreeFailsCleanly() {
        let bytes = Self.sampleTree(5, seed: "truncate").encode()
        for n in 0..<bytes.count {
            #expect(throws: (any Error).self) { try Tree.decode(Array(bytes[0..<n])) }
        }
    }

    @Test func treeRejectsUnsortedOrDuplicateXattrs() {
        var t = Tree(nodes: [Node(name: Array("f".utf8), type: .file, content: .chunks([]))])
        t.nodes[0].xattrs = [Xattr(name: Array("user.a".utf8), value: [2]), Xattr(name: Array("user.a".utf8), value: [1])]
        #expect(throws: FormatError.self) { try Tree.decode(t.encode()) }
        t.nodes[0].xattrs = [Xattr(name: Array("user.b".utf8), value: []), Xattr(name: Array("user.a".utf8), value: [])]
        #expect(throws: FormatError.self) { try Tree.decode(t.encode()) }
        t.sort()
        #expect(throws: Never.self) { try Tree.decode(t.encode()) }
    }

    @Test func hostileCountsDoNotAllocate() {
        // version 1, node count 0xffffffff, then nothing.
        #expect(throws: FormatError.self) { try Tree.decode([1, 255, 255, 255, 255]) }
        #expect(throws: FormatError.self) { try IndexFile.decode([1, 0, 0, 0, 0, 255, 255, 255, 255]) }
        #expect(throws: FormatError.self) { try PackHeader.decodePlain([1, 255, 255, 255, 255]) }
    }

    @Test func packHeaderRoundTripAndTiling() throws {
        var pack: [UInt8] = []
        var entries: [BlobEntry] = []
        for i in 0..<5 {
            let plain = Array(repeating: UInt8(i), count: 1000 * (i + 1))
            let id = key.blobMAC.mac(plain)
            var scratch: [UInt8] = []
            let start = pack.count
            let comp = plain.withUnsafeBytes {
                BlobCodec.seal($0, type: .data, id: id, key: key, compressor: ZstdCompressor(level: 3), scratch: &scratch, random: random, into: &pack)
            }
            entries.append(BlobEntry(type: .data, compression: comp, storedLength: UInt32(pack.count - start), offset: UInt64(start), plainLength: UInt32(plain.count), id: id))
        }
        PackHeader(entries: entries).seal(key: key, random: random, into: &pack)
        let h = try PackHeader.parse(pack: pack, key: key)
        #expect(h.entries == entries)
        #expect(entries.allSatisfy { $0.compression == .zstd })
        for e in h.entries {
            let plain = try pack.withUnsafeBytes { try BlobCodec.open(UnsafeRawBufferPointer(rebasing: $0[Int(e.offset)..<Int(e.offset) + Int(e.storedLength)]), entry: e, key: key) }
            #expect(key.blobMAC.mac(plain) == e.id)
        }
        // A header whose offsets leave a gap is refused.
        var bad = entries; bad[1].offset += 1
        #expect(throws: FormatError.self) { try PackHeader(entries: bad).validate(blobArea: UInt64(entries.reduce(0) { $0 + Int($1.storedLength) })) }
    }

    @Test func blobTypeAndIDAreBoundToTheCiphertext() throws {
        let plain = Array("some data".utf8)
        let id = key.blobMAC.mac(plain)
        var sealed: [UInt8] = [], scratch: [UInt8] = []
        let comp = plain.withUnsafeBytes { BlobCodec.seal($0, type: .data, id: id, key: key, compressor: nil, scratch: &scratch, random: random, into: &sealed) }
        let entry = BlobEntry(type: .data, compression: comp, storedLength: UInt32(sealed.count), offset: 0, plainLength: UInt32(plain.count), id: id)
        #expect(try sealed.withUnsafeBytes { try BlobCodec.open($0, entry: entry, key: key) } == plain)
        var asTree = entry; asTree.type = .tree
        #expect(throws: FormatError.self) { try sealed.withUnsafeBytes { try BlobCodec.open($0, entry: asTree, key: key) } }
        var otherID = entry; otherID.id = ID(Array(repeating: 7, count: 32))
        #expect(throws: FormatError.self) { try sealed.withUnsafeBytes { try BlobCodec.open($0, entry: otherID, key: key) } }
        var flipped = sealed; flipped[15] ^= 1
        #expect(throws: FormatError.self) { try flipped.withUnsafeBytes { try BlobCodec.open($0, entry: entry, key: key) } }
    }

    @Test func incompressibleBlobsAreStoredRaw() {
        let plain = SeededRandom(seed: "incompressible").bytes(65536)
        var sealed: [UInt8] = [], scratch: [UInt8] = []
        let comp = plain.withUnsafeBytes { BlobCodec.seal($0, type: .data, id: .zero, key: key, compressor: ZstdCompressor(level: 3), scratch: &scratch, random: random, into: &sealed) }
        #expect(comp == .none)
        #expect(sealed.count == plain.count + AESGCM.overhead)
    }

    @Test func envelopeBindsTheFileType() throws {
        let payload = Array(String(repeating: "index payload ", count: 100).utf8)
        let sealed = Envelope.seal(payload, type: .index, key: key, compress: true, random: random)
        #expect(sealed.count < payload.count)
        #expect(try Envelope.open(sealed, type: .index, key: key) == payload)
        #expect(throws: FormatError.self) { try Envelope.open(sealed, type: .snapshot, key: key) }
    }

    @Test func indexFileRoundTrips() throws {
        let e = BlobEntry(type: .tree, compression: .zstd, storedLength: 100, offset: 0, plainLength: 300, id: ID(Array(repeating: 1, count: 32)))
        let f = IndexFile(supersedes: [ID(Array(repeating: 9, count: 32))], packs: [.init(id: ID(Array(repeating: 2, count: 32)), blobs: [e, e])])
        #expect(try IndexFile.decode(f.encode()) == f)
        #expect(throws: FormatError.self) { try IndexFile.decode(f.encode() + [0]) }
    }

    @Test func keyFileOpensOnlyWithItsPassword() throws {
        let k = try KeyFile.create(master: key, password: Array("right".utf8), parameters: .init(n: 1024, r: 8, p: 1),
                                   hostname: "h", username: "u", created: .now(), random: random)
        let decoded = try KeyFile.decode(try k.encoded())
        #expect(try decoded.open(password: Array("right".utf8)) == key)
        #expect(throws: FormatError.self) { try decoded.open(password: Array("wrong".utf8)) }
        // Parameters outside the format's range (here 128 * r * N = 1 TiB) are refused on decode.
        for (n, r, p): (UInt64, UInt64, UInt64) in [(1 << 33, 1, 1), (1 << 24, 8, 1), (1000, 8, 1), (1024, 0, 1), (1024, 8, 17)] {
            var bad = k; bad.scrypt = .init(n: n, r: r, p: p)
            do { _ = try KeyFile.decode(try bad.encoded()); Issue.record("accepted scrypt N=\(n) r=\(r) p=\(p)") }
            catch let FormatError.invalid(message) { #expect(message.hasPrefix("key file scrypt parameters out of range: N=\(n) r=\(r) p=\(p) ")) }
        }
    }

    @Test func timestampsRoundTrip() {
        for ns: Int64 in [0, 1, 1_767_225_600_123_456_789, -1_500_000_000, -1, .min, .min + 999_999_999, .max] {
            let t = Timestamp(nanoseconds: ns)
            #expect(Timestamp.parse(t.rfc3339) == t)
        }
        #expect(Timestamp.parse("2026-01-01T01:00:00+01:00") == Timestamp.parse("2026-01-01T00:00:00Z"))
        #expect(Timestamp.parse("yesterday") == nil)
        // Outside what Int64 nanoseconds hold (1677-09-21 ... 2262-04-11): nil, not a trap.
        #expect(Timestamp.parse("2262-04-11T23:47:16.854775807Z") == Timestamp(nanoseconds: .max))
        #expect(Timestamp.parse("2262-04-11T23:47:16.854775808Z") == nil)
        #expect(Timestamp.parse("4839-01-01T00:00:00Z") == nil)
        #expect(Timestamp.parse("1012-11-21T21:46:19.123456789Z") == nil)
    }
}
