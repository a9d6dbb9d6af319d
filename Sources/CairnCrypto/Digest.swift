internal import CCrypto
import CairnCore

/// SHA-256: names packs and repository files (so anyone can verify them without keys).
public enum SHA256 {
    public static func hash(_ data: UnsafeRawBufferPointer) -> ID {
        var out = [UInt8](repeating: 0, count: 32)
        out.withUnsafeMutableBytes { o in
            var len: UInt32 = 32
            _ = EVP_Digest(data.baseAddress ?? UnsafeRawPointer(bitPattern: 1), data.count,
                           o.baseAddress!.assumingMemoryBound(to: UInt8.self), &len, EVP_sha256(), nil)
        }
        return ID(out)
    }
    public static func hash(_ data: [UInt8]) -> ID { data.withUnsafeBytes { hash($0) } }
}

/// Incremental SHA-256 over a stream of buffers (pack files are hashed as they are read).
public final class SHA256Stream {
    private let ctx: OpaquePointer
    public init() {
        ctx = EVP_MD_CTX_new()
        EVP_DigestInit_ex(ctx, EVP_sha256(), nil)
    }
    deinit { EVP_MD_CTX_free(ctx) }
    public func update(_ data: UnsafeRawBufferPointer) {
        if data.count > 0 { EVP_DigestUpdate(ctx, data.baseAddress, data.count) }
    }
    public func update(_ data: [UInt8]) { data.withUnsafeBytes { update($0) } }
    public func finish() -> ID {
        var out = [UInt8](repeating: 0, count: 32)
        var len: UInt32 = 32
        out.withUnsafeMutableBytes { _ = EVP_DigestFinal_ex(ctx, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), &len) }
        return ID(out)
    }
}

/// HMAC-SHA-256 under a fixed key: blob IDs and the chunker's gear table.
public struct HMACSHA256: Sendable {
    private let key: [UInt8]
    public init(key: [UInt8]) { self.key = key }

    public func mac(_ data: UnsafeRawBufferPointer) -> ID {
        var out = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        var len: UInt32 = 32
        return withUnsafeMutableBytes(of: &out) { o in
            key.withUnsafeBytes { k in
                _ = HMAC(EVP_sha256(), k.baseAddress, Int32(k.count),
                         data.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(bitPattern: 1), data.count,
                         o.baseAddress!.assumingMemoryBound(to: UInt8.self), &len)
            }
            return ID(bytes: UnsafeRawBufferPointer(o))
        }
    }
    public func mac(_ data: [UInt8]) -> ID { data.withUnsafeBytes { mac($0) } }
}

/// MD5, only to compare with the ETags S3 gives multipart parts (never for integrity: the
/// pack names and the signed SHA-256 payload hashes do that).
public enum MD5 {
    public static func hash(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 16)
        var len: UInt32 = 16
        data.withUnsafeBytes { d in
            out.withUnsafeMutableBytes { o in
                _ = EVP_Digest(d.baseAddress ?? UnsafeRawPointer(bitPattern: 1), d.count,
                               o.baseAddress!.assumingMemoryBound(to: UInt8.self), &len, EVP_md5(), nil)
            }
        }
        return out
    }
}

/// libcrypto's process-wide state.
public enum CryptoLibrary {
    /// Keeps libcrypto's state until the process is gone. By default OpenSSL frees it in an
    /// atexit handler, so a worker thread still hashing when `exit` runs takes a freed lock
    /// (seen once in CI: `cairn backup` crashed in pthread_rwlock_rdlock at exit). Call first.
    public static func keepStateUntilExit() {
        _ = OPENSSL_init_crypto(UInt64(OPENSSL_INIT_NO_ATEXIT), nil)
    }
}
