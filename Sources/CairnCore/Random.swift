/// Where key material, nonces and salts come from. Production uses the operating system's
/// CSPRNG (see CairnCrypto.SystemRandom); the test-vector generator uses a fixed stream.
public protocol RandomSource: Sendable {
    func fill(_ buffer: UnsafeMutableRawBufferPointer)
}

extension RandomSource {
    public func bytes(_ n: Int) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: n)
        b.withUnsafeMutableBytes { fill($0) }
        return b
    }
}
