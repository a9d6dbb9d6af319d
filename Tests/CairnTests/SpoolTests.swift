import CairnCore
import CairnCrypto
import CairnStorage
import Foundation
import Testing

/// A pack built in place (spec §14): a `.tmp-` name in a `data/<xx>` folder, never listed,
/// renamed to its final name when done, and cleaned up once old, as are the old
/// `data/.tmp-spool-<hex>` names of earlier versions.
@Suite struct SpoolTests {
    /// Every `.tmp-` file below `data/`, as paths relative to it.
    static func temporaries(_ repo: String) -> [String] {
        ((try? FileManager.default.subpathsOfDirectory(atPath: repo + "/data")) ?? []).filter { $0.contains(".tmp-") }.sorted()
    }

    /// `data/<xx>/.tmp-pack-<16 hex>` with `xx` the first two digits of the hex.
    static func followsTheRule(_ relative: String) -> Bool {
        let parts = relative.split(separator: "/").map(String.init)
        guard parts.count == 2, parts[1].hasPrefix(".tmp-pack-") else { return false }
        let hex = parts[1].dropFirst(".tmp-pack-".count)
        return hex.count == 16 && hex.allSatisfy { $0.isHexDigit && !$0.isUppercase } && parts[0] == String(hex.prefix(2))
    }

    static func age(_ path: String, seconds: Int) {
        var times = [timespec(tv_sec: time(nil) - seconds, tv_nsec: 0), timespec(tv_sec: time(nil) - seconds, tv_nsec: 0)]
        _ = utimensat(AT_FDCWD, path, &times, 0)
    }

    @Test func aSpoolIsATemporaryInADataFolderAndBecomesThePack() throws {
        let tmp = TempDir()
        let backend = LocalBackend(path: tmp.sub("repo"))
        try backend.create()
        let spool = try backend.createSpool(.pack)
        let relative = String(spool.path.dropFirst((tmp.sub("repo") + "/data/").count))
        #expect(Self.followsTheRule(relative), "\(spool.path)")
        let bytes = Fixtures.random(5000, seed: "spool")
        try bytes.withUnsafeBytes { try spool.append($0) }
        #expect(try backend.list(.pack).isEmpty)   // never listed
        let name = SHA256.hash(bytes).hex
        try backend.commit(spool, .pack, name)
        #expect(!FileManager.default.fileExists(atPath: spool.path))
        #expect(Fixtures.read(tmp.sub("repo/data/" + name.prefix(2) + "/" + name)) == bytes)
        #expect(try backend.list(.pack).map(\.name) == [name])
        #expect(Self.temporaries(tmp.sub("repo")).isEmpty)
        // A missing data/<xx> folder is made again.
        let again = try backend.createSpool(.pack)
        backend.discard(again)
        try FileManager.default.removeItem(atPath: String(again.path[..<again.path.lastIndex(of: "/")!]))
        let made = try backend.createSpool(.pack)
        backend.discard(made)
    }

    @Test func oldTemporariesAreCleanedOldSpoolNamesToo() throws {
        let tmp = TempDir()
        let backend = LocalBackend(path: tmp.sub("repo"))
        try backend.create()
        let old = try backend.createSpool(.pack), fresh = try backend.createSpool(.pack)
        let legacy = tmp.sub("repo/data/.tmp-spool-1f2e3d4c5b6a7988")
        Fixtures.write(legacy, [1, 2, 3])
        Self.age(old.path, seconds: 7200); Self.age(legacy, seconds: 7200)
        #expect(try backend.list(.pack).isEmpty)
        #expect(backend.removeStaleTemporaries(olderThan: 3600) == 2)
        #expect(!FileManager.default.fileExists(atPath: old.path) && !FileManager.default.fileExists(atPath: legacy))
        #expect(FileManager.default.fileExists(atPath: fresh.path))
        backend.discard(old); backend.discard(fresh)
    }

    /// `kill -9` of a backup while it builds packs leaves only names of §14's form, which
    /// `check` ignores and the next backup cleans once they are an hour old.
    @Test func aKilledBackupLeavesOnlyTemporariesOfTheRulesForm() throws {
        let tmp = TempDir()
        let repo = try CLITests.initRepo(tmp)
        for i in 0..<4 { Fixtures.write(tmp.sub("src/f\(i)"), Fixtures.random(2 << 20, seed: "spool-kill-\(i)")) }
        let (killed, _) = try KillTests.killDuring(["backup", tmp.sub("src")], repo: repo, afterMs: 60_000,
                                                   until: { !Self.temporaries(repo).isEmpty })
        #expect(killed)
        let left = Self.temporaries(repo)
        #expect(!left.isEmpty)
        for t in left { #expect(Self.followsTheRule(t), "\(t)") }
        #expect(try CLITests.cairn(["unlock"], repo: repo).status == 0)
        let check = try CLITests.cairn(["check"], repo: repo)
        #expect(check.status == 0, "\(check.out) \(check.err)")
        for t in left { Self.age(repo + "/data/" + t, seconds: 7200) }
        let backup = try CLITests.cairn(["backup", tmp.sub("src")], repo: repo)
        #expect(backup.status == 0, "\(backup.err)")
        #expect(Self.temporaries(repo).isEmpty)
    }
}
