import CairnCore
import CairnCrypto
import CairnTree
import CairnRepository
import CairnStorage
import Foundation

/// A fresh temporary folder, removed when the value is released.
final class TempDir: @unchecked Sendable {
    let path: String
    init() {
        var t = Array("/tmp/cairn-test-XXXXXX".utf8CString)
        path = t.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func sub(_ s: String) -> String { path + "/" + s }
}

enum Fixtures {
    static let password = Array("test password".utf8)

    static func options() -> Repository.InitOptions {
        var o = Repository.InitOptions()
        o.scrypt = .init(n: 1024, r: 8, p: 1)
        o.chunker = .init(min: 1024, avg: 4096, max: 16384)
        o.packSize = 1 << 16
        return o
    }

    static func newRepository(_ dir: TempDir) throws -> Repository {
        try Repository.initialize(backend: LocalBackend(path: dir.sub("repo")), password: password, options: options())
    }

    static func reopen(_ dir: TempDir) throws -> Repository {
        let r = try Repository.open(backend: LocalBackend(path: dir.sub("repo")), password: password)
        try r.loadIndex()
        return r
    }

    static func write(_ path: String, _ bytes: [UInt8]) {
        try! FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
    }

    static func random(_ n: Int, seed: String) -> [UInt8] { SeededRandom(seed: seed).bytes(n) }

    static func read(_ path: String) -> [UInt8]? { FileManager.default.contents(atPath: path).map { Array($0) } }

    /// The package root (for format-spec/ and the built binary).
    static var packageRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    static func lstat(_ p: String) -> stat {
        var st = stat()
        _ = Glibc.lstat(p, &st)
        return st
    }
}

/// SplitMix64: a small reproducible generator for seeded and property tests (each failure
/// prints its seed, so one case can be replayed).
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(state: UInt64) { self.state = state }
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// 0 ..< n (0 when n ≤ 1).
    mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }
}
