import CairnChunking
import CairnCore
import CairnCrypto
import CairnVectorsBuilder
import Foundation
import Testing

@Suite struct ChunkerTests {
    let cdc = FastCDC(parameters: .init(min: 256, avg: 1024, max: 4096), gear: GearTable.derive(chunkerKey: Array(repeating: 3, count: 32)))

    @Test func cutPointsMatchTheSpecVectors() throws {
        let url = URL(fileURLWithPath: Fixtures.packageRoot + "/format-spec/vectors/chunker.json")
        let vectors = try JSONDecoder().decode([TestVectors.ChunkerVector].self, from: Data(contentsOf: url))
        #expect(vectors.count == 2)
        for v in vectors {
            let key = Hex.decode(v.chunkerKey)!
            let input = SeededRandom(seed: v.inputSeed).bytes(v.inputLength)
            #expect(SHA256.hash(input).hex == v.inputSHA256)
            let gear = GearTable.derive(chunkerKey: key)
            #expect(gear.values.prefix(4).map { String($0, radix: 16) } == v.gearFirst4.map { String(UInt64($0, radix: 16)!, radix: 16) })
            let chunker = StreamChunker(cdc: FastCDC(parameters: .init(min: v.min, avg: v.avg, max: v.max), gear: gear))
            #expect(chunker.cutPoints(input) == v.cutPoints)
        }
    }

    @Test func chunkSizesStayWithinBounds() {
        let data = SeededRandom(seed: "bounds").bytes(1 << 20)
        let cuts = StreamChunker(cdc: cdc).cutPoints(data)
        var prev = 0
        for (i, c) in cuts.enumerated() {
            let size = c - prev
            #expect(size <= 4096)
            if i < cuts.count - 1 { #expect(size > 256) }
            prev = c
        }
        #expect(cuts.last == data.count)
        let avg = data.count / cuts.count
        #expect(avg > 700 && avg < 2000, "average \(avg) far from 1024")
    }

    @Test func streamingGivesTheSameCutsForAnyReadSize() throws {
        let data = SeededRandom(seed: "stream").bytes(300_000)
        let expected = StreamChunker(cdc: cdc).cutPoints(data)
        for readSize in [1, 7, 4096, 100_000] {
            var pos = 0, cuts: [Int] = [], total = 0
            try StreamChunker(cdc: cdc).run(read: { buf in
                let n = min(readSize, buf.count, data.count - pos)
                data.withUnsafeBytes { buf.baseAddress!.copyMemory(from: $0.baseAddress! + pos, byteCount: n) }
                pos += n; return n
            }, chunk: { c in total += c.count; cuts.append(total) })
            #expect(cuts == expected)
        }
    }

    @Test func boundariesResynchronizeAfterAnInsertion() {
        let data = SeededRandom(seed: "shift").bytes(200_000)
        let edited = Array(data[0..<50_000]) + Array("INSERTED".utf8) + Array(data[50_000...])
        let a = Set(StreamChunker(cdc: cdc).cutPoints(data).filter { $0 > 60_000 })
        let b = Set(StreamChunker(cdc: cdc).cutPoints(edited).filter { $0 > 60_008 }.map { $0 - 8 })
        #expect(Double(a.intersection(b).count) / Double(a.count) > 0.95)
    }

    @Test func differentKeysCutDifferently() {
        let data = SeededRandom(seed: "keys").bytes(200_000)
        let other = FastCDC(parameters: cdc.parameters, gear: GearTable.derive(chunkerKey: Array(repeating: 4, count: 32)))
        #expect(StreamChunker(cdc: cdc).cutPoints(data) != StreamChunker(cdc: other).cutPoints(data))
    }
}
