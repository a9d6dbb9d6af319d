import CairnCore
import CairnCrypto
@testable import CairnFormat
import CairnRepository
import CairnStorage
import Foundation
import Testing

/// Issue 14, item 10: a key file planted with a huge scrypt cost is not tried, and the key
/// that opened the repository last is tried first.
@Suite(.serialized) struct KeyCostTests {
    /// A key file that no password opens (random sealed data), named to sort first.
    static func plant(_ repo: Repository, _ p: ScryptParameters, name: String = String(repeating: "0", count: 64)) throws {
        let random = SystemRandom()
        let k = KeyFile(version: 1, created: Timestamp.now().rfc3339, hostname: "evil", username: "evil", kdf: "scrypt", scrypt: p,
                        salt: Data(random.bytes(32)).base64EncodedString(), data: Data(random.bytes(124)).base64EncodedString())
        try repo.backend.write(.key, name, try k.encoded())
    }

    /// A real key file for `password`, returning its name.
    static func addKey(_ repo: Repository, _ password: String) throws -> String {
        try repo.addKey(password: Array(password.utf8), parameters: .init(n: 1024, r: 8, p: 1), hostname: "h", username: "u")
    }

    final class Seen: @unchecked Sendable {
        let tried = Locked([String]()), warned = Locked([String]())
        var selection: Repository.KeySelection {
            var s = Repository.KeySelection()
            s.tried = { n in self.tried.withLock { $0.append(n) } }
            s.warn = { w in self.warned.withLock { $0.append(w) } }
            return s
        }
    }

    @Test func theCeilingIsSixteenTimesTheDefault() {
        #expect(ScryptParameters.default.isWithinCeiling && ScryptParameters.default.cost * 16 == ScryptParameters.ceiling)
        #expect(ScryptParameters(n: 1 << 19, r: 8, p: 1).isWithinCeiling)
        #expect(!ScryptParameters(n: 1 << 20, r: 8, p: 1).isWithinCeiling)
        #expect(!ScryptParameters(n: 1 << 21, r: 8, p: 16).isWithinCeiling)
    }

    @Test func aPlantedExpensiveKeyIsSkippedWithAWarningUnlessAllowed() throws {
        let tmp = TempDir()
        let repo = try Fixtures.newRepository(tmp)
        // The largest cost the format allows: 2 GiB and minutes for every open if tried.
        let worst = String(repeating: "0", count: 64)
        try Self.plant(repo, .init(n: 1 << 21, r: 8, p: 16), name: worst)
        let seen = Seen()
        let start = Date()
        let r = try Repository.open(backend: LocalBackend(path: tmp.sub("repo")), password: Fixtures.password, keys: seen.selection)
        #expect(Date().timeIntervalSince(start) < 2)
        #expect(r.keyName == repo.keyName)
        #expect(!seen.tried.withLock { $0 }.contains(worst))
        #expect(seen.warned.withLock { $0 }.count == 1 && seen.warned.withLock { $0 }[0].contains("keys/" + worst) == true)
        // Wrong password: the error says keys were skipped and how to try them.
        do {
            _ = try Repository.open(backend: LocalBackend(path: tmp.sub("repo")), password: Array("wrong".utf8), keys: Seen().selection)
            Issue.record("a wrong password opened the repository")
        } catch RepositoryError.wrongPasswordSkipped(let n) { #expect(n == 1) }
        try repo.backend.delete(.key, worst)

        // Just above the ceiling (2^23, about twice the ceiling's time): tried when allowed.
        try Self.plant(repo, .init(n: 1 << 16, r: 8, p: 16), name: worst)
        let skipped = Seen()
        _ = try Repository.open(backend: LocalBackend(path: tmp.sub("repo")), password: Fixtures.password, keys: skipped.selection)
        #expect(skipped.tried.withLock { $0 } == [repo.keyName])
        let allowed = Seen()
        var s = allowed.selection
        s.allowExpensiveKDF = true
        let opened = try Repository.open(backend: LocalBackend(path: tmp.sub("repo")), password: Fixtures.password, keys: s)
        #expect(opened.keyName == repo.keyName)
        #expect(allowed.tried.withLock { $0 } == [worst, repo.keyName])
        #expect(allowed.warned.withLock { $0 }.isEmpty)
    }

    @Test func theLastUsedKeyIsTriedFirst() throws {
        let tmp = TempDir()
        let repo = try Fixtures.newRepository(tmp)
        var passwords = [repo.keyName: String(decoding: Fixtures.password, as: UTF8.self)]
        passwords[try Self.addKey(repo, "second")] = "second"
        passwords[try Self.addKey(repo, "third")] = "third"
        let names = passwords.keys.sorted()
        let target = try #require(names.last)
        let password = try #require(passwords[target])
        // In name order, the last key is tried after the other two.
        let plain = Seen()
        let r1 = try Repository.open(backend: LocalBackend(path: tmp.sub("repo")), password: Array(password.utf8), keys: plain.selection)
        #expect(r1.keyName == target && plain.tried.withLock { $0 } == names)
        // Remembered in a cache folder, it is tried first.
        let memory = LastKey(cacheFolder: tmp.sub("cache"))
        memory.remember(r1.keyName, for: r1.configDigest)
        #expect(memory.name(for: r1.configDigest) == target)
        let first = Seen()
        var s = first.selection
        s.lastUsed = { memory.name(for: $0) }
        let r2 = try Repository.open(backend: LocalBackend(path: tmp.sub("repo")), password: Array(password.utf8), keys: s)
        #expect(r2.keyName == target && first.tried.withLock { $0 } == [target])
        // A remembered key that is gone is no obstacle.
        memory.remember(String(repeating: "f", count: 64), for: r1.configDigest)
        let gone = Seen()
        var g = gone.selection
        g.lastUsed = { memory.name(for: $0) }
        #expect(try Repository.open(backend: LocalBackend(path: tmp.sub("repo")), password: Array(password.utf8), keys: g).keyName == target)
    }

    @Test func theCLIWarnsSkipsAllowsAndRemembers() throws {
        let tmp = TempDir()
        let repo = try CLITests.initRepo(tmp)
        let r = try Repository.open(backend: LocalBackend(path: repo), password: Array("pw".utf8))
        let worst = String(repeating: "0", count: 64)
        try Self.plant(r, .init(n: 1 << 16, r: 8, p: 16), name: worst)
        let start = Date()
        let plain = try CLITests.cairn(["snapshots"], repo: repo, cache: tmp.sub("cache"))
        let took = Date().timeIntervalSince(start)
        #expect(plain.status == 0, "\(plain.err)")
        #expect(plain.err.contains("warning: key file keys/\(worst) skipped") && plain.err.contains("--allow-expensive-kdf"), "\(plain.err)")
        // The planted key alone would take about 3 s to try.
        #expect(took < 2.5, "took \(took) s")
        // Remembered: the next open tries the right key first and never reaches the planted one.
        let digest = SHA256.hash(Fixtures.read(repo + "/config") ?? [])
        #expect(Fixtures.read(tmp.sub("cache/last-key/\(digest.hex)")) == Array((r.keyName + "\n").utf8))
        let again = try CLITests.cairn(["snapshots"], repo: repo, cache: tmp.sub("cache"))
        #expect(again.status == 0 && !again.err.contains("skipped"), "\(again.err)")
        // With the flag (or the variable) the planted key is tried: no warning, and a wrong
        // password costs its derivation.
        for (args, env) in [(["--allow-expensive-kdf"], [String: String]()), ([], ["CAIRN_ALLOW_EXPENSIVE_KDF": "1"])] {
            let allowed = try CLITests.cairn(args + ["snapshots"], repo: repo, env: env)
            #expect(allowed.status == 0 && !allowed.err.contains("skipped"), "\(allowed.err)")
        }
        let wrong = try CLITests.cairn(["snapshots"], repo: repo, password: "wrong")
        #expect(wrong.status == 12 && wrong.err.contains("--allow-expensive-kdf"), "\(wrong.err)")
        // init and key add refuse to write a key above the ceiling unless allowed.
        #expect(try CLITests.cairn(["init", "--kdf-n", "1048576"], repo: tmp.sub("r2")).status != 0)
        #expect(!FileManager.default.fileExists(atPath: tmp.sub("r2/config")))
    }
}
