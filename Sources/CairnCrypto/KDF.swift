#if canImport(Glibc)
import Glibc
#endif
internal import CCrypto
import CairnCore

/// scrypt (RFC 7914) parameters, recorded in every key file.
public struct ScryptParameters: Sendable, Equatable, Codable {
    public var n: UInt64
    public var r: UInt64
    public var p: UInt64
    public init(n: UInt64, r: UInt64, p: UInt64) { self.n = n; self.r = r; self.p = p }
    /// 2^15 / 8 / 1: 32 MiB of memory, about 0.1 s here.
    public static let `default` = ScryptParameters(n: 1 << 15, r: 8, p: 1)

    /// The work a derivation takes: time grows with N·r·p, memory with N·r (128·r·N bytes).
    public var cost: UInt64 { n &* r &* p }

    /// The largest cost a key file is tried with unless the user allows more (format-spec §4.3):
    /// 16 times the default's (2^18), so at most about 1.6 s and 512 MiB per key file. A key
    /// file planted with the format's largest cost (2^21 · 8 · 16) would otherwise cost every
    /// command minutes and 2 GiB.
    public static let ceiling: UInt64 = 1 << 22

    public var isWithinCeiling: Bool { cost <= Self.ceiling }

    /// "N=2^15 r=8 p=1" for messages.
    public var shown: String {
        let log = n.trailingZeroBitCount
        return (n == 1 << log ? "N=2^\(log)" : "N=\(n)") + " r=\(r) p=\(p)"
    }

    public var isSane: Bool {
        n >= 2 && n & (n - 1) == 0 && n <= 1 << 24 && r >= 1 && r <= 64 && p >= 1 && p <= 16
            && 128 * r * n <= 2 << 30
    }
}

public enum Scrypt {
    public static func derive(password: [UInt8], salt: [UInt8], parameters: ScryptParameters, length: Int = 32) throws -> [UInt8] {
        guard parameters.isSane else { throw FormatError.invalid("scrypt parameters out of range") }
        var out = [UInt8](repeating: 0, count: length)
        let maxmem = 128 * parameters.r * parameters.n + 128 * parameters.r * parameters.p + (1 << 20)
        let ok = out.withUnsafeMutableBufferPointer { o in
            (password.map { CChar(bitPattern: $0) } + [0]).withUnsafeBufferPointer { pw in
                salt.withUnsafeBufferPointer { s in
                    EVP_PBE_scrypt(pw.baseAddress, password.count, s.baseAddress, s.count,
                                   parameters.n, parameters.r, parameters.p, maxmem, o.baseAddress, length)
                }
            }
        }
        guard ok == 1 else { throw FormatError.invalid("scrypt failed") }
        return out
    }
}

/// The operating system's CSPRNG through OpenSSL's RAND_bytes.
public struct SystemRandom: RandomSource {
    public init() {}
    public func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        guard buffer.count > 0 else { return }
        precondition(RAND_bytes(buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(buffer.count)) == 1,
                     "the system random generator failed")
    }
}

/// A deterministic stream (SHA-256 in counter mode over a seed) for test vectors only.
public final class SeededRandom: RandomSource, Sendable {
    private let seed: [UInt8]
    private struct State { var counter: UInt64 = 0; var pool: [UInt8] = [] }
    private let state = Locked(State())
    public init(seed: String) { self.seed = Array(seed.utf8) }
    public func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        state.withLock { st in
            var i = 0
            while i < buffer.count {
                if st.pool.isEmpty {
                    var w = ByteWriter(); w.raw(seed); w.u64(st.counter); st.counter += 1
                    st.pool = SHA256.hash(w.bytes).bytes
                }
                buffer[i] = st.pool.removeFirst(); i += 1
            }
        }
    }
}
