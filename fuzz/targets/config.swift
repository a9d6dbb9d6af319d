// libFuzzer target: Config.decode (Sources/CairnFormat/Config.swift) on arbitrary bytes, the JSON
// payload of the config envelope (read first by every command that opens a repository).
//
// Checks, for every input the decoder accepts: decode(encoded()) == config and encoded() is a
// fixed point; the ID parses; and the chunker built from the accepted parameters cuts without
// trapping and within [min, max] (a config that validates must give a usable chunker).
import CairnCore
import CairnChunking
import CairnFormat
#if canImport(Glibc)
import Glibc
#endif

/// A fixed gear table (the real one is derived from the secret chunker key).
let fuzzGear = GearTable(values: (0..<256).map { UInt64($0) &* 0x9E37_79B9_7F4A_7C15 })
/// What the chunker is run on: 64 KiB of a simple pseudo-random sequence.
let fuzzChunkInput: [UInt8] = {
    var x: UInt32 = 1
    return (0..<65_536).map { _ in x = x &* 1_664_525 &+ 1_013_904_223; return UInt8(truncatingIfNeeded: x >> 24) }
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzBytes(data, size)
    guard let config = try? Config.decode(input) else { return 0 }
    let bytes: [UInt8]
    do { bytes = try config.encoded() } catch { fuzzFail("a decoded config does not encode: \(error)") }
    let again: Config
    do { again = try Config.decode(bytes) } catch { fuzzFail("re-encoded config does not decode: \(error)") }
    if again != config { fuzzFail("decode(encode(config)) != config") }
    if (try? again.encoded()) != bytes { fuzzFail("encode(decode(encode(config))) differs from encode(config)") }
    if ID(hex: config.id) == nil { fuzzFail("accepted config id is not an ID") }

    let p = config.chunkerParameters
    let cdc = FastCDC(parameters: p, gear: fuzzGear)
    let cut = fuzzChunkInput.withUnsafeBytes { cdc.cut($0) }
    let n = fuzzChunkInput.count
    let ok = n <= p.min ? cut == n : (cut > p.min && cut <= min(n, p.max))
    if !ok { fuzzFail("chunker \(p.min)/\(p.avg)/\(p.max) cut \(cut) of \(n) bytes") }
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzConfigInitialize(_ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    writeSeedsIfAsked(configSeeds(), vectors: { $0.payloads(.config) })
    return 0
}

func configSeeds() -> [[UInt8]] {
    let encode = { (c: Config) in (try? c.encoded()) ?? [] }
    return [
        encode(Config(id: ID(seedID(1)), chunker: .default, compression: .auto, packSize: 16 << 20)),
        encode(Config(id: ID(seedID(2)), chunker: .init(min: 64, avg: 256, max: 1_024), compression: .off, packSize: 1 << 16)),
        encode(Config(id: ID(seedID(3)), chunker: .init(min: 4 << 20, avg: 16 << 20, max: 64 << 20), compression: .max, packSize: 1 << 31)),
        encode(Config(id: ID(seedID(4)), chunker: .around(avg: 1 << 12), compression: .fastest, packSize: 1 << 24)),
    ]
}
