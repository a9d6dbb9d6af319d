// libFuzzer target: Snapshot.decode (Sources/CairnFormat/Snapshot.swift) on arbitrary bytes, the
// JSON payload of a snapshot envelope (only key holders can write one, but every reader of the
// repository parses all of them: `snapshots`, `check`, `forget`, `restore`).
//
// Checks, for every input the decoder accepts:
//  - decode(encoded()) == snapshot, and encoded() is a fixed point (the writer's output of a
//    decoded snapshot decodes and re-encodes to the same bytes);
//  - what decode promised holds for the accessors readers use: treeID is an ID, parentID and
//    originalID are IDs when present, and `timestamp` is the parsed `time` (so writing it back
//    as RFC 3339 and parsing again gives the same instant).
import CairnCore
import CairnFormat
#if canImport(Glibc)
import Glibc
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSnapshot(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzBytes(data, size)
    guard let s = try? Snapshot.decode(input) else { return 0 }
    let bytes: [UInt8]
    do { bytes = try s.encoded() } catch { fuzzFail("a decoded snapshot does not encode: \(error)") }
    let again: Snapshot
    do { again = try Snapshot.decode(bytes) } catch { fuzzFail("re-encoded snapshot does not decode: \(error)") }
    if again != s { fuzzFail("decode(encode(snapshot)) != snapshot") }
    if (try? again.encoded()) != bytes { fuzzFail("encode(decode(encode(snapshot))) differs from encode(snapshot)") }

    if s.treeID == nil { fuzzFail("accepted snapshot has no tree ID") }
    if (s.parent != nil) != (s.parentID != nil) { fuzzFail("accepted snapshot's parent is not an ID") }
    if let o = s.original, ID(hex: o) == nil { fuzzFail("accepted snapshot's original is not an ID") }
    guard let t = Timestamp.parse(s.time) else { fuzzFail("accepted snapshot's time does not parse") }
    if s.timestamp != t { fuzzFail("timestamp differs from Timestamp.parse(time)") }
    if Timestamp.parse(t.rfc3339) != t { fuzzFail("time \(s.time) -> \(t.rfc3339) does not parse back to the same instant") }
    _ = t.localDisplay
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzSnapshotInitialize(_ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    writeSeedsIfAsked(snapshotSeeds(), vectors: { $0.payloads(.snapshot) })
    return 0
}

func snapshotSeeds() -> [[UInt8]] {
    let id = { (b: UInt8) in ID(seedID(b)) }
    var summary = Snapshot.Summary()
    summary.filesNew = 3; summary.filesChanged = 1; summary.filesUnmodified = 1_000; summary.dirs = 12
    summary.bytesRead = 1 << 33; summary.bytesAdded = 123_456; summary.bytesStored = 65_432
    summary.dataBlobs = 7; summary.treeBlobs = 2; summary.totalFiles = 1_004; summary.totalBytes = 1 << 34
    summary.errors = 1; summary.durationSeconds = 12.375
    let time = Timestamp(seconds: 1_763_761_579, nanos: 123_456_789)
    let plain = Snapshot(time: time, tree: id(1), paths: ["/home/alice"], hostname: "host", username: "alice",
                         uid: 1000, gid: 1000, tags: [], parent: nil, excludes: [], programVersion: "cairn 0.1",
                         summary: Snapshot.Summary())
    var full = Snapshot(time: time, tree: id(2), paths: ["/etc", "/home/b\u{e9}atrice", "/srv/data"], hostname: "h\u{f6}st",
                        username: "root", uid: 0, gid: 0, tags: ["daily", "t\"ag\\", ""], parent: id(3),
                        excludes: ["*.tmp", "/proc"], programVersion: "cairn 0.1", summary: summary)
    full.original = id(4).hex
    var compactTime = plain; compactTime.time = "2026-01-01T00:00:00+02:00"
    let encode = { (s: Snapshot) in (try? s.encoded()) ?? [] }
    return [
        encode(plain),
        encode(full),
        encode(compactTime),
        // Summary members are optional on input.
        Array(#"{"excludes":[],"gid":1,"hostname":"h","parent":null,"paths":["\/"],"program_version":"x","summary":{},"tags":[],"time":"2026-01-01T00:00:00Z","tree":"\#(id(5).hex)","uid":1,"username":"u","version":1}"#.utf8),
    ]
}
