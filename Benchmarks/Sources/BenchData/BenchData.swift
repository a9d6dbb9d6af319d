/// Deterministic inputs for the benchmarks: the same bytes on every run and every machine.
public enum BenchData {
    /// The fixed 32-byte chunker key the benchmarks derive their gear table from.
    public static let chunkerKey: [UInt8] = (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }

    /// A fixed 32-byte key for HMAC and AES-GCM.
    public static let key: [UInt8] = (0..<32).map { UInt8(truncatingIfNeeded: 0xA5 ^ ($0 &* 7)) }

    /// `count` pseudo-random (incompressible) bytes from SplitMix64 seeded with `seed`.
    public static func random(count: Int, seed: UInt64 = 0xC0FFEE) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { fillRandom($0, seed: seed) }
        return out
    }

    /// Fills `buffer` with SplitMix64 output (8 bytes per step, little-endian).
    public static func fillRandom(_ buffer: UnsafeMutableRawBufferPointer, seed: UInt64) {
        var state = seed
        let words = buffer.count / 8
        for i in 0..<words {
            buffer.storeBytes(of: splitMix64(&state).littleEndian, toByteOffset: i * 8, as: UInt64.self)
        }
        var tail = splitMix64(&state)
        for i in (words * 8)..<buffer.count {
            buffer[i] = UInt8(truncatingIfNeeded: tail); tail >>= 8
        }
    }

    @inline(__always)
    public static func splitMix64(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D4_9BB4_9133_11EB
        return z ^ (z >> 31)
    }

    /// `count` bytes of text-like, compressible data: words drawn from a small vocabulary with a
    /// skewed distribution, separated by spaces, punctuation and line breaks (compressible,
    /// roughly like source code or logs).
    public static func text(count: Int, seed: UInt64 = 42) -> [UInt8] {
        let vocabulary: [[UInt8]] = [
            "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "with", "was", "on",
            "backup", "snapshot", "chunk", "repository", "index", "pack", "blob", "tree", "key",
            "error", "warning", "info", "debug", "file", "directory", "size", "offset", "length",
            "return", "func", "let", "var", "if", "else", "guard", "throw", "struct", "public",
            "0", "1", "42", "1024", "65536", "true", "false", "nil", "self", "data", "bytes",
        ].map { Array($0.utf8) }
        let separators: [[UInt8]] = [" ", " ", " ", " ", " ", ", ", ". ", "\n", "(", ") ", " = ", ": "]
            .map { Array($0.utf8) }
        var out = [UInt8](); out.reserveCapacity(count + 32)
        var state = seed
        while out.count < count {
            let r = splitMix64(&state)
            // Skew towards the first words: min of two uniform draws.
            let a = Int(r % UInt64(vocabulary.count)), b = Int((r >> 20) % UInt64(vocabulary.count))
            out.append(contentsOf: vocabulary[Swift.min(a, b)])
            out.append(contentsOf: separators[Int((r >> 40) % UInt64(separators.count))])
        }
        out.removeLast(out.count - count)
        return out
    }
}
