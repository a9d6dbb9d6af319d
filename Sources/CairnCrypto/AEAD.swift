internal import CCrypto
import CairnCore

/// AES-256-GCM with a random 96-bit nonce. Sealed form: nonce (12) || ciphertext || tag (16).
public struct AESGCM: Sendable {
    public static let nonceSize = 12
    public static let tagSize = 16
    public static let overhead = nonceSize + tagSize

    private let key: [UInt8]
    public init(key: [UInt8]) {
        precondition(key.count == 32, "AES-256 needs a 32-byte key")
        self.key = key
    }

    /// Seals `plaintext` into `out` (appended), binding `aad`.
    public func seal(_ plaintext: UnsafeRawBufferPointer, aad: [UInt8], random: any RandomSource,
                     into out: inout [UInt8]) {
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: Self.nonceSize + plaintext.count + Self.tagSize))
        out.withUnsafeMutableBytes { o in
            let base = o.baseAddress! + start
            random.fill(UnsafeMutableRawBufferPointer(start: base, count: Self.nonceSize))
            let ctx = EVP_CIPHER_CTX_new()!
            defer { EVP_CIPHER_CTX_free(ctx) }
            var len: Int32 = 0
            key.withUnsafeBytes { k in
                precondition(EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nil, nil, nil) == 1)
                precondition(EVP_EncryptInit_ex(ctx, nil, nil, k.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                                UnsafePointer(base.assumingMemoryBound(to: UInt8.self))) == 1)
            }
            aad.withUnsafeBytes { a in
                if a.count > 0 { precondition(EVP_EncryptUpdate(ctx, nil, &len, a.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(a.count)) == 1) }
            }
            let ct = (base + Self.nonceSize).assumingMemoryBound(to: UInt8.self)
            if plaintext.count > 0 {
                precondition(EVP_EncryptUpdate(ctx, ct, &len, plaintext.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(plaintext.count)) == 1)
            }
            precondition(EVP_EncryptFinal_ex(ctx, ct + Int(len), &len) == 1)
            precondition(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, Int32(Self.tagSize), ct + plaintext.count) == 1)
        }
    }

    public func seal(_ plaintext: [UInt8], aad: [UInt8], random: any RandomSource) -> [UInt8] {
        var out = [UInt8](); out.reserveCapacity(plaintext.count + Self.overhead)
        plaintext.withUnsafeBytes { seal($0, aad: aad, random: random, into: &out) }
        return out
    }

    /// Opens a sealed buffer; throws `FormatError.authenticationFailed` when the tag does not verify.
    public func open(_ sealed: UnsafeRawBufferPointer, aad: [UInt8], what: String) throws -> [UInt8] {
        guard sealed.count >= Self.overhead else { throw FormatError.truncated(what) }
        let n = sealed.count - Self.overhead
        var ok = false
        // Uninitialised output: decryption writes every byte, and a failed open keeps none.
        let out = [UInt8](unsafeUninitializedCapacity: n) { buf, count in
            ok = decrypt(sealed, plaintextCount: n, aad: aad, into: buf.baseAddress)
            count = ok ? n : 0
        }
        guard ok else { throw FormatError.authenticationFailed(what) }
        return out
    }

    private func decrypt(_ sealed: UnsafeRawBufferPointer, plaintextCount n: Int, aad: [UInt8],
                         into dst: UnsafeMutablePointer<UInt8>?) -> Bool {
        let ctx = EVP_CIPHER_CTX_new()!
        defer { EVP_CIPHER_CTX_free(ctx) }
        var len: Int32 = 0
        let base = sealed.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let okInit = key.withUnsafeBytes { k in
            EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nil, nil, nil) == 1 &&
            EVP_DecryptInit_ex(ctx, nil, nil, k.baseAddress!.assumingMemoryBound(to: UInt8.self), base) == 1
        }
        guard okInit else { return false }
        let okAAD = aad.withUnsafeBytes { a in
            a.count == 0 || EVP_DecryptUpdate(ctx, nil, &len, a.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(a.count)) == 1
        }
        guard okAAD else { return false }
        if n > 0 {
            guard EVP_DecryptUpdate(ctx, dst, &len, base + Self.nonceSize, Int32(n)) == 1 else { return false }
        }
        let tag = UnsafeMutableRawPointer(mutating: base + Self.nonceSize + n)
        guard EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, Int32(Self.tagSize), tag) == 1 else { return false }
        var scratch = (UInt64(0), UInt64(0))
        return withUnsafeMutableBytes(of: &scratch) { s in
            EVP_DecryptFinal_ex(ctx, n > 0 ? dst! + n : s.baseAddress!.assumingMemoryBound(to: UInt8.self), &len) == 1
        }
    }

    public func open(_ sealed: [UInt8], aad: [UInt8], what: String) throws -> [UInt8] {
        try sealed.withUnsafeBytes { try open($0, aad: aad, what: what) }
    }
}
