import CairnCore
import CairnCrypto
import CairnFormat
import CairnRepository
import Testing

@Suite struct IndexTests {
    @Test func anIndexedBlobTakesAtMost40Bytes() {
        #expect(MemoryLayout<IndexedBlob>.stride <= 40)
    }

    @Test func lookupsFindEveryBlobAndNothingElse() {
        var index = BlobIndex()
        let r = SeededRandom(seed: "index")
        var file = IndexFile(packs: [])
        var ids: [ID] = []
        for _ in 0..<20 {
            var blobs: [BlobEntry] = []
            for b in 0..<500 {
                let id = ID(r.bytes(32))
                ids.append(id)
                blobs.append(BlobEntry(type: b % 10 == 0 ? .tree : .data, compression: .zstd, storedLength: 100, offset: UInt64(b * 100), plainLength: 300, id: id))
            }
            file.packs.append(.init(id: ID(r.bytes(32)), blobs: blobs))
        }
        index.addBulk(file)
        index.finishBulkLoad()
        #expect(index.count == 10_000)
        for (p, pack) in file.packs.enumerated() {
            for b in pack.blobs {
                let found = index.lookup(b.type, b.id)
                #expect(found?.pack == file.packs[p].id && found?.entry == b)
                #expect(index.lookup(b.type == .data ? .tree : .data, b.id) == nil)
            }
        }
        #expect(index.lookup(.data, ID(r.bytes(32))) == nil)
        // Blobs added later are found too, and a blob stored twice keeps one location.
        let later = BlobEntry(type: .data, compression: .none, storedLength: 50, offset: 0, plainLength: 22, id: ID(r.bytes(32)))
        index.add(pack: ID(r.bytes(32)), blobs: [later, file.packs[0].blobs[1]])
        #expect(index.contains(.data, later.id))
        #expect(index.lookup(.data, file.packs[0].blobs[1].id)?.pack == file.packs[0].id)
    }
}
