// libFuzzer target: KeyFile.decode and KeyFile.open (Sources/CairnFormat/KeyFile.swift) on
// arbitrary bytes. Key files are plaintext JSON that anyone who can write to the storage can
// add, and opening a repository tries each of them with the user's password.
//
// Checks, for every input the decoder accepts:
//  - decode(encoded()) == key file, and encoded() is a fixed point;
//  - the scrypt parameters are within the format's range (decode rejects the others, so that
//    nothing a key file says can make `open` allocate more than the format allows);
//  - when the scrypt cost is tiny (N·r·p <= 2048, so each run stays fast), open with the fuzz
//    password and with a wrong one: a success must give a 96-byte master key, and the wrong
//    password must never open what the right one opened.
import CairnCore
import CairnCrypto
import CairnFormat
#if canImport(Glibc)
import Glibc
#endif

let fuzzPassword = Array("fuzz password".utf8)
let fuzzMaster = MasterKey(encryptionKey: seedID(1), idKey: seedID(2), chunkerKey: seedID(3))

/// Deterministic salt and nonces for the seeds.
struct CounterRandom: RandomSource {
    func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        for i in buffer.indices { buffer[i] = UInt8(truncatingIfNeeded: i &* 31 &+ 7) }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzKeyFile(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzBytes(data, size)
    guard let key = try? KeyFile.decode(input) else { return 0 }
    let bytes: [UInt8]
    do { bytes = try key.encoded() } catch { fuzzFail("a decoded key file does not encode: \(error)") }
    let again: KeyFile
    do { again = try KeyFile.decode(bytes) } catch { fuzzFail("re-encoded key file does not decode: \(error)") }
    if again != key { fuzzFail("decode(encode(key file)) != key file") }
    if (try? again.encoded()) != bytes { fuzzFail("encode(decode(encode(key file))) differs from encode(key file)") }

    let s = key.scrypt
    if !s.isSane { fuzzFail("decode accepted scrypt parameters out of range: n=\(s.n) r=\(s.r) p=\(s.p)") }
    // isSane bounds each factor, so the product cannot overflow.
    guard s.n * s.r * s.p <= 2_048 else { return 0 }
    let master: MasterKey
    do { master = try key.open(password: fuzzPassword) } catch { return 0 }
    if master.encoded.count != 96 { fuzzFail("opened master key has \(master.encoded.count) bytes") }
    // (Not fuzzPassword + [0]: HMAC pads short keys with zeros, so scrypt cannot tell those apart.)
    if (try? key.open(password: Array("fuzz passwore".utf8))) != nil { fuzzFail("a wrong password opened the key file") }
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzKeyFileInitialize(_ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    writeSeedsIfAsked(keyFileSeeds(), vectors: { $0.keyFiles })
    return 0
}

/// Key files made by the real writer with cheap scrypt parameters and the fuzz password, so that
/// mutations of their metadata still open.
func keyFileSeeds() -> [[UInt8]] {
    func make(_ p: ScryptParameters, host: String, user: String) -> [UInt8] {
        guard let k = try? KeyFile.create(master: fuzzMaster, password: fuzzPassword, parameters: p, hostname: host,
                                          username: user, created: Timestamp(seconds: 1_763_761_579, nanos: 5),
                                          random: CounterRandom()),
              let bytes = try? k.encoded() else { fuzzFail("cannot make a seed key file") }
        return bytes
    }
    return [
        make(.init(n: 16, r: 1, p: 1), host: "host", user: "alice"),
        make(.init(n: 2, r: 8, p: 2), host: "h\u{f6}st/x", user: ""),
        make(.init(n: 1024, r: 2, p: 1), host: "", user: "root"),
    ]
}
