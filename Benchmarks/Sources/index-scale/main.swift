// The in-memory index at scale: builds N million blobs as index files of 8 000 blobs (the
// size a backup's checkpoints write), encodes and decodes each (as loading does, without the
// encryption), adds them to a BlobIndex, then measures resident bytes per blob and lookups
// per second (hits and misses), single-threaded.
import CairnCore
import CairnCrypto
import CairnFormat
import CairnRepository
import Foundation

func residentBytes() -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    return (Int(s.split(separator: " ")[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
}
func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

/// A fast deterministic ID stream (SplitMix64), so generation does not dominate.
struct IDs {
    var s: UInt64
    mutating func next() -> UInt64 { s &+= 0x9E3779B97F4A7C15; var z = s; z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9; z = (z ^ (z >> 27)) &* 0x94D049BB133111EB; return z ^ (z >> 31) }
    mutating func id() -> ID { ID(w0: next(), w1: next(), w2: next(), w3: next()) }
}

let millions = CommandLine.arguments.count > 1 ? Double(CommandLine.arguments[1]) ?? 10 : 10
let total = Int(millions * 1_000_000)
let perFile = 8_000
var gen = IDs(s: 42)
var index = BlobIndex()
let before = residentBytes()
let t0 = now()
var made = 0
var packNo: UInt64 = 0
while made < total {
    var packs: [IndexFile.Pack] = []
    var inFile = 0
    while inFile < perFile && made < total {
        var blobs: [BlobEntry] = []
        var offset: UInt64 = 0
        for _ in 0..<min(256, total - made) {
            blobs.append(BlobEntry(type: .data, compression: .zstd, storedLength: 40_000, offset: offset, plainLength: 65_536, id: gen.id()))
            offset += 40_000
        }
        made += blobs.count; inFile += blobs.count; packNo += 1
        packs.append(.init(id: ID(w0: packNo, w1: 0, w2: 0, w3: 0), blobs: blobs))
    }
    let bytes = IndexFile(packs: packs).encode()
    index.addBulk(try IndexFile.decode(bytes))
}
index.finishBulkLoad()
let loadSeconds = now() - t0
let after = residentBytes()
print("index-scale: \(total) blobs in \(index.packCount) packs")
print(String(format: "  load (encode + decode + insert + sort): %.2f s", loadSeconds))
print(String(format: "  resident: %.1f bytes/blob (RSS %.0f MB -> %.0f MB; table entry %d bytes)",
             Double(after - before) / Double(total), Double(before) / 1e6, Double(after) / 1e6, MemoryLayout<IndexedBlob>.stride))

// Lookups: replay the same ID stream (hits), then fresh IDs (misses).
var replay = IDs(s: 42)
let lookups = min(total, 5_000_000)
var found = 0
let t1 = now()
for _ in 0..<lookups { if index.contains(.data, replay.id()) { found += 1 } }
let hitSeconds = now() - t1
var miss = IDs(s: 7)
var falsePositives = 0
let t2 = now()
for _ in 0..<lookups { if index.contains(.data, miss.id()) { falsePositives += 1 } }
let missSeconds = now() - t2
print(String(format: "  lookups: %.2f M/s hits (%d of %d found), %.2f M/s misses (%d false)",
             Double(lookups) / hitSeconds / 1e6, found, lookups, Double(lookups) / missSeconds / 1e6, falsePositives))
