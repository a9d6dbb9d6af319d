// libFuzzer target: Lock.decode (Sources/CairnFormat/Snapshot.swift) on arbitrary bytes, the JSON
// payload of a lock envelope (read by every operation that takes a lock, and by `unlock`).
//
// Checks, for every input the decoder accepts: decode(encoded()) == lock and encoded() is a fixed
// point; `timestamp` (how staleness is judged) equals Timestamp.parse(time) when that parses,
// and writing a parsed time back as RFC 3339 gives the same instant.
import CairnCore
import CairnFormat
#if canImport(Glibc)
import Glibc
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLock(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzBytes(data, size)
    guard let lock = try? Lock.decode(input) else { return 0 }
    let bytes: [UInt8]
    do { bytes = try lock.encoded() } catch { fuzzFail("a decoded lock does not encode: \(error)") }
    let again: Lock
    do { again = try Lock.decode(bytes) } catch { fuzzFail("re-encoded lock does not decode: \(error)") }
    if again != lock { fuzzFail("decode(encode(lock)) != lock") }
    if (try? again.encoded()) != bytes { fuzzFail("encode(decode(encode(lock))) differs from encode(lock)") }

    // Lock.decode does not check `time`: a lock whose time does not parse counts as written at
    // the epoch (stale).
    let ts = lock.timestamp
    if let t = Timestamp.parse(lock.time) {
        if ts != t { fuzzFail("timestamp differs from Timestamp.parse(time)") }
        if Timestamp.parse(t.rfc3339) != t { fuzzFail("time \(lock.time) -> \(t.rfc3339) does not parse back to the same instant") }
    } else if ts != Timestamp(nanoseconds: 0) {
        fuzzFail("unparseable lock time gave timestamp \(ts.nanoseconds)")
    }
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzLockInitialize(_ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    // The vector repository holds no lock (released when it was built): only the writer's seeds.
    writeSeedsIfAsked(lockSeeds())
    return 0
}

func lockSeeds() -> [[UInt8]] {
    let t = Timestamp(seconds: 1_763_761_579, nanos: 123_456_789)
    let encode = { (l: Lock) in (try? l.encoded()) ?? [] }
    return [
        encode(Lock(time: t, exclusive: false, hostname: "host", username: "alice", pid: 4242, operation: "backup")),
        encode(Lock(time: Timestamp(nanoseconds: 0), exclusive: true, hostname: "h\u{f6}st\\\"", username: "root",
                    pid: Int32.max, operation: "prune")),
        Array(#"{"exclusive":false,"hostname":"","operation":"check","pid":-1,"time":"2026-11-21 21:46","username":""}"#.utf8),
    ]
}
