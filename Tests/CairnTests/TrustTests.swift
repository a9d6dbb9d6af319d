import CairnCore
import CairnCrypto
import CairnArchive
import CairnCheck
import CairnRestore
import CairnTree
import CairnFormat
import CairnRepository
import CairnStorage
import Foundation
import Testing

/// Places where Cairn used to say something reassuring that was not true (issue 14): check
/// believing the cache, empty snapshots of missing paths, includes that matched nothing, a
/// damaged newest snapshot silently skipped, garbage under pack names, an index file that
/// hides every pack, a folder chain deeper than the stack, a restore onto a full disk.
@Suite(.serialized) struct TrustTests {
    typealias Run = CLITests.Run
    static func cairn(_ args: [String], _ repo: String, cache: String? = nil, env: [String: String] = [:]) throws -> Run {
        try CLITests.cairn(args, repo: repo, env: env, cache: cache)
    }

    static func flipByte(_ path: String, at offset: Int? = nil) {
        var b = Fixtures.read(path)!
        let i = offset ?? b.count / 2
        b[i] ^= 0x40
        Fixtures.write(path, b)
    }

    static func files(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    static func snapshotIDs(_ repo: String) -> [String] { files(repo + "/snapshots") }

    /// The snapshot files, oldest first (by the time inside, as `snapshots --json` lists them).
    static func snapshotsOldestFirst(_ repo: String, cache: String? = nil) throws -> [String] {
        let r = try cairn(["--json", "snapshots"], repo, cache: cache)
        let list = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [[String: Any]]
        return list.map { $0["id"] as! String }
    }

    /// Two backups of a small folder; returns (repo, src, cache).
    static func twoBackups(_ tmp: TempDir) throws -> (String, String, String) {
        let repo = try CLITests.initRepo(tmp)
        let src = tmp.sub("src"), cache = tmp.sub("cache")
        Fixtures.write(src + "/docs/file3.txt", Array("three".utf8))
        Fixtures.write(src + "/a.bin", Fixtures.random(300_000, seed: "trust-a"))
        #expect(try cairn(["backup", src], repo, cache: cache).status == 0)
        Fixtures.write(src + "/b.bin", Fixtures.random(200_000, seed: "trust-b"))
        #expect(try cairn(["backup", src], repo, cache: cache).status == 0)
        return (repo, src, cache)
    }

    // MARK: 1. check reads the repository, never the cache

    @Test func checkFindsADamagedSnapshotFileWithTheCacheWarm() throws {
        let tmp = TempDir()
        let (repo, _, cache) = try Self.twoBackups(tmp)
        #expect(try Self.cairn(["snapshots"], repo, cache: cache).status == 0)   // the cache is warm
        let victim = Self.snapshotIDs(repo)[0]
        Self.flipByte(repo + "/snapshots/" + victim)
        let r = try Self.cairn(["check", "--read-data"], repo, cache: cache)
        #expect(r.status == 2, "\(r.out) \(r.err)")
        #expect(r.out.contains(victim) && r.out.contains("does not match its SHA-256 name"), "\(r.out)")
        // An ordinary command may still use the verified cached copy (it is authentic).
        #expect(try Self.cairn(["ls", victim], repo, cache: cache).status == 0)
    }

    @Test func checkFindsADamagedIndexFileAndTreePackWithTheCacheWarm() throws {
        let tmp = TempDir()
        let (repo, src, cache) = try Self.twoBackups(tmp)
        let out = tmp.sub("warm")
        #expect(try Self.cairn(["restore", "latest", "--target", out], repo, cache: cache).status == 0)   // trees cached
        let index = Self.files(repo + "/index")[0]
        Self.flipByte(repo + "/index/" + index)
        let r = try Self.cairn(["check"], repo, cache: cache)
        #expect(r.status == 2, "\(r.out) \(r.err)")
        #expect(r.out.contains("index " + index), "\(r.out)")
        _ = src
    }

    // MARK: 2. backup of paths that do not exist

    @Test func aBackupOfOnlyMissingPathsSavesNothing() throws {
        let tmp = TempDir()
        let repo = try CLITests.initRepo(tmp)
        let r = try Self.cairn(["backup", tmp.sub("typo"), tmp.sub("unmounted/disk")], repo)
        #expect(r.status == 1, "\(r.out) \(r.err)")
        #expect(r.err.contains("does not exist") || r.err.contains("none of the paths exist"), "\(r.err)")
        #expect(Self.snapshotIDs(repo).isEmpty)
    }

    @Test func aBackupWithSomeMissingPathsWarnsAndLeavesThemOut() throws {
        let tmp = TempDir()
        let repo = try CLITests.initRepo(tmp)
        Fixtures.write(tmp.sub("here/f"), Array("x".utf8))
        let r = try Self.cairn(["--json", "backup", tmp.sub("here"), tmp.sub("typo")], repo)
        #expect(r.status == 3, "\(r.out) \(r.err)")
        #expect(r.out.contains("typo") && r.out.contains("does not exist"), "\(r.out)")
        let snaps = try JSONSerialization.jsonObject(with: Data(try Self.cairn(["--json", "snapshots"], repo).out.utf8)) as! [[String: Any]]
        #expect(snaps.count == 1)
        let paths = (snaps.first?["snapshot"] as? [String: Any])?["paths"] as? [String]
        #expect(paths == [tmp.sub("here")], "\(String(describing: paths))")
    }

    /// Sources: an export command that is missing or fails saves no snapshot for that source;
    /// exit 1 when every source failed, 3 when some did.
    @Test func aSourceWhoseExportCommandIsMissingSavesNothing() throws {
        let tmp = TempDir()
        let repo = try CLITests.initRepo(tmp)
        // No podman at all on PATH.
        let none = try Self.cairn(["backup", "podman-volume", "data"], repo, env: ["PATH": tmp.sub("empty-bin")])
        #expect(none.status == 1, "\(none.out) \(none.err)")
        #expect(Self.snapshotIDs(repo).isEmpty)
        // A podman that exports volume `a` and knows no volume `b`.
        let bin = tmp.sub("bin")
        Fixtures.write(bin + "/podman", Array("""
            #!/bin/sh
            if [ "$1 $2 $3" = "volume export a" ]; then exec tar -cf - -C \(tmp.path) bin; fi
            echo "Error: no such volume $3" >&2; exit 125
            """.utf8))
        chmod(bin + "/podman", 0o755)
        let path = bin + ":/usr/bin:/bin"
        let some = try Self.cairn(["backup", "podman-volume", "a", "b"], repo, env: ["PATH": path])
        #expect(some.status == 3, "\(some.out) \(some.err)")
        #expect(some.err.contains("podman-volume:b"), "\(some.err)")
        #expect(Self.snapshotIDs(repo).count == 1)
        let all = try Self.cairn(["backup", "podman-volume", "b", "c"], repo, env: ["PATH": path])
        #expect(all.status == 1, "\(all.out) \(all.err)")
        #expect(Self.snapshotIDs(repo).count == 1)
    }

    // MARK: 3. restore patterns as ls prints paths

    @Test func restoreIncludesTakeAbsolutePathsAndSayWhenNothingMatches() throws {
        let tmp = TempDir()
        let (repo, src, cache) = try Self.twoBackups(tmp)
        let t1 = tmp.sub("t1")
        let r = try Self.cairn(["restore", "latest", "--target", t1, "--include", src + "/docs/file3.txt"], repo, cache: cache)
        #expect(r.status == 0, "\(r.err)")
        #expect(Fixtures.read(t1 + src + "/docs/file3.txt") == Array("three".utf8))
        #expect(Fixtures.read(t1 + src + "/a.bin") == nil)
        // A folder as ls prints it takes in what is below it.
        let t2 = tmp.sub("t2")
        #expect(try Self.cairn(["restore", "latest", "--target", t2, "--include", src + "/docs"], repo, cache: cache).status == 0)
        #expect(Fixtures.read(t2 + src + "/docs/file3.txt") == Array("three".utf8))
        #expect(Fixtures.read(t2 + src + "/b.bin") == nil)
        // Below the root (latest:PATH), the same absolute pattern.
        let t3 = tmp.sub("t3")
        #expect(try Self.cairn(["restore", "latest:" + src, "--target", t3, "--include", src + "/docs/file3.txt"], repo, cache: cache).status == 0)
        #expect(Fixtures.read(t3 + "/docs/file3.txt") == Array("three".utf8))
        // An exclude with an absolute path, as backup takes it.
        let t4 = tmp.sub("t4")
        #expect(try Self.cairn(["restore", "latest", "--target", t4, "--exclude", src + "/a.bin"], repo, cache: cache).status == 0)
        #expect(Fixtures.read(t4 + src + "/a.bin") == nil && Fixtures.read(t4 + src + "/b.bin") != nil)
        // Nothing matched: an error that says so.
        let none = try Self.cairn(["restore", "latest", "--target", tmp.sub("t5"), "--include", "/home/me/docs/file3.txt"], repo, cache: cache)
        #expect(none.status == 1)
        #expect(none.err.contains("matched nothing"), "\(none.err)")
    }

    // MARK: 6. a damaged newest snapshot is never skipped silently

    @Test func latestRefusesWhenASnapshotCannotBeRead() throws {
        let tmp = TempDir()
        let (repo, src, _) = try Self.twoBackups(tmp)
        let order = try Self.snapshotsOldestFirst(repo)
        #expect(order.count == 2)
        Self.flipByte(repo + "/snapshots/" + order[1])
        let r = try Self.cairn(["restore", "latest", "--target", tmp.sub("r")], repo)
        #expect(r.status == 1, "\(r.out) \(r.err)")
        #expect(r.err.contains(order[1]), "\(r.err)")
        #expect(Fixtures.read(tmp.sub("r") + src + "/a.bin") == nil)
        // Filters too, and find.
        #expect(try Self.cairn(["find", "file3.txt"], repo).status == 1)
        // Told to leave it out, or given the other snapshot by ID: the older snapshot.
        let skip = try Self.cairn(["restore", "latest", "--skip-unreadable", "--target", tmp.sub("s")], repo)
        #expect(skip.status == 0, "\(skip.err)")
        #expect(skip.err.contains(String(order[1].prefix(8))), "\(skip.err)")
        #expect(Fixtures.read(tmp.sub("s") + src + "/a.bin") != nil && Fixtures.read(tmp.sub("s") + src + "/b.bin") == nil)
        #expect(try Self.cairn(["restore", String(order[0].prefix(10)), "--target", tmp.sub("n")], repo).status == 0)
        // forget refuses (the unreadable one might be what the policy keeps); prune refuses.
        let forget = try Self.cairn(["forget", "--keep-last", "1"], repo)
        #expect(forget.status == 1, "\(forget.out) \(forget.err)")
        #expect(Self.snapshotIDs(repo).count == 2)
        #expect(try Self.cairn(["prune"], repo).status != 0)
        // An empty name is refused, not taken as a prefix.
        #expect(try Self.cairn(["restore", "", "--target", tmp.sub("e")], repo).status != 0)
    }

    // MARK: 7. every file under data/ is checked, indexed or not

    @Test func garbageUnderAPackNameIsDamageAndPruneRemovesIt() throws {
        let tmp = TempDir()
        let (repo, _, cache) = try Self.twoBackups(tmp)
        // A truncated copy of a real pack under a name of its own (as a write cut short would
        // leave it), and a stranger's file.
        let real = try FileManager.default.subpathsOfDirectory(atPath: repo + "/data").filter { $0.count == 67 }.sorted()[0]
        let bytes = Fixtures.read(repo + "/data/" + real)!
        let truncated = Array(bytes.prefix(bytes.count / 2))
        let name1 = SHA256.hash(bytes + [1]).hex
        Fixtures.write(repo + "/data/" + name1.prefix(2) + "/" + name1, truncated)
        let name2 = SHA256.hash(Array("garbage".utf8)).hex.replacingOccurrences(of: "0", with: "1")
        Fixtures.write(repo + "/data/" + name2.prefix(2) + "/" + name2, Fixtures.random(5000, seed: "garbage"))
        for args in [["check"], ["check", "--read-data"]] {
            let r = try Self.cairn(args, repo, cache: cache)
            #expect(r.status == 2, "\(args): \(r.out) \(r.err)")
            #expect(r.out.contains(name1) && r.out.contains(name2), "\(r.out)")
        }
        let p = try Self.cairn(["prune"], repo, cache: cache)
        #expect(p.status == 0, "\(p.out) \(p.err)")
        #expect(Fixtures.read(repo + "/data/" + name1.prefix(2) + "/" + name1) == nil)
        #expect(Fixtures.read(repo + "/data/" + name2.prefix(2) + "/" + name2) == nil)
        let after = try Self.cairn(["check", "--read-data"], repo, cache: cache)
        #expect(after.status == 0, "\(after.out)")
    }

    static var canMount: Bool { geteuid() == 0 || ProcessInfo.processInfo.environment["CI"] == "true" }

    /// A tmpfs of `mib` MiB at a new folder; unmounted by the returned closure.
    static func smallFileSystem(_ tmp: TempDir, _ name: String, mib: Int) throws -> (String, () -> Void) {
        let dir = tmp.sub(name)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/mount")
        p.arguments = ["-t", "tmpfs", "-o", "size=\(mib)m", "tmpfs", dir]
        try p.run(); p.waitUntilExit()
        #expect(p.terminationStatus == 0, "mount -t tmpfs failed: a full-disk test needs root")
        return (dir, {
            let u = Process(); u.executableURL = URL(fileURLWithPath: "/bin/umount"); u.arguments = ["-l", dir]
            try? u.run(); u.waitUntilExit()
        })
    }

    @Test(.enabled(if: TrustTests.canMount, "needs root to mount a small tmpfs"))
    func aFullDiskDuringBackupLeavesNoPackUnderItsFinalName() throws {
        let tmp = TempDir()
        let (fs, unmount) = try Self.smallFileSystem(tmp, "small", mib: 12)
        defer { unmount() }
        let repo = fs + "/repo"
        #expect(try Self.cairn(["init", "--kdf-n", "1024", "--pack-size", "1"], repo).status == 0)
        let src = tmp.sub("big")
        for i in 0..<8 { Fixtures.write(src + "/f\(i)", Fixtures.random(3 << 20, seed: "full-\(i)")) }
        let r = try Self.cairn(["backup", src], repo)
        #expect(r.status != 0, "the backup of 24 MiB fit in 12 MiB?")
        #expect(Self.snapshotIDs(repo).isEmpty)
        // Every file under a pack name is a whole pack: its bytes hash to its name.
        for sub in try FileManager.default.subpathsOfDirectory(atPath: repo + "/data") where sub.count == 67 {
            let name = String(sub.suffix(64))
            #expect(SHA256.hash(Fixtures.read(repo + "/data/" + sub)!).hex == name, "\(sub) is not a whole pack")
        }
        let c = try Self.cairn(["check", "--read-data"], repo)
        #expect(c.status == 0, "\(c.out) \(c.err)")
    }

    // MARK: 8. supersedes cannot hide packs

    @Test func anIndexFileSupersedingEverythingHidesNothing() throws {
        let tmp = TempDir()
        let repo = try Fixtures.newRepository(tmp)
        let archiver = Archiver(repository: repo, options: BackupOptions())
        Fixtures.write(tmp.sub("src/x"), Fixtures.random(200_000, seed: "supersede"))
        let r = try archiver.backup(paths: [tmp.sub("src")])
        #expect(r.snapshotID != nil)
        // A client that may only add files uploads one index file superseding all others.
        let all = try repo.list(.index)
        try repo.saveFile(.index, IndexFile(supersedes: all, packs: []).encode())
        let fresh = try Fixtures.reopen(tmp)
        #expect(fresh.index.count == repo.index.count && fresh.index.count > 0)
        let report = try Checker(repository: fresh).run(readData: true)
        #expect(report.healthy, "\(report.damage)")
        let out = tmp.sub("out")
        let restored = try Restorer(repository: fresh, options: RestoreOptions())
            .restore(node: try fresh.node(at: "", root: r.snapshot.treeID!), displayPath: [], target: out)
        #expect(restored.warnings.isEmpty && restored.files == 1)
        #expect(Fixtures.read(out + tmp.sub("src/x")) == Fixtures.random(200_000, seed: "supersede"))
    }

    // MARK: 11. a folder chain deeper than the stack

    @Test func aFiveThousandLevelChainBacksUpAndRestores() throws {
        let tmp = TempDir()
        defer { Self.removeDeep(tmp.path) }
        let repo = try CLITests.initRepo(tmp)
        let src = tmp.sub("deep")
        try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: true)
        var fd = open(src, O_RDONLY | O_DIRECTORY)
        for _ in 0..<5000 {
            #expect(mkdirat(fd, "d", 0o755) == 0)
            let next = openat(fd, "d", O_RDONLY | O_DIRECTORY)
            close(fd); fd = next
        }
        close(fd)
        let b = try Self.cairn(["backup", src], repo)
        // Paths past PATH_MAX cannot be read by name: a warning, exit 3, and the rest saved.
        #expect(b.status == 3, "\(b.out) \(b.err)")
        #expect(b.err.contains("File name too long"), "\(b.err)")
        #expect(Self.snapshotIDs(repo).count == 1)
        let t = tmp.sub("t")
        let r = try Self.cairn(["restore", "latest", "--target", t], repo)
        #expect(r.status == 0, "\(r.err.prefix(2000))")
        // As deep as the snapshot holds: every level a path can reach (about 2 000).
        var depth = 0
        fd = open(t + src, O_RDONLY | O_DIRECTORY)
        while true {
            let next = openat(fd, "d", O_RDONLY | O_DIRECTORY)
            close(fd)
            if next < 0 { break }
            fd = next; depth += 1
        }
        #expect(depth > 1900, "restored \(depth) levels")
        #expect(try Self.cairn(["check"], repo).status == 0)
    }

    static func removeDeep(_ path: String) {
        let p = Process(); p.executableURL = URL(fileURLWithPath: "/bin/rm"); p.arguments = ["-rf", path]
        try? p.run(); p.waitUntilExit()
    }

    // MARK: 12. a restore onto a full disk

    @Test(.enabled(if: TrustTests.canMount, "needs root to mount a small tmpfs"))
    func aRestoreThatCannotFitIsRefusedAndAFullDiskIsAWriteError() throws {
        let tmp = TempDir()
        let repo = try CLITests.initRepo(tmp)
        let src = tmp.sub("src")
        for i in 0..<6 { Fixtures.write(src + "/f\(i)", Fixtures.random(3 << 20, seed: "fit-\(i)")) }
        #expect(try Self.cairn(["backup", src], repo).status == 0)
        let (fs, unmount) = try Self.smallFileSystem(tmp, "small", mib: 8)
        defer { unmount() }
        let refused = try Self.cairn(["restore", "latest", "--target", fs + "/t"], repo)
        #expect(refused.status == 1)
        #expect(refused.err.contains("free") && refused.err.contains("--force"), "\(refused.err)")
        #expect(Self.files(fs + "/t").isEmpty, "nothing is written when it cannot fit")
        let forced = try Self.cairn(["restore", "latest", "--force", "--target", fs + "/t"], repo)
        #expect(forced.status == 1)
        #expect(forced.err.contains("no space left") || forced.err.contains("No space left"), "\(forced.err)")
        #expect(!forced.err.contains("unreadable"), "write failures reported as unreadable chunks: \(forced.err.prefix(1000))")
        #expect(forced.err.split(separator: "\n").count < 20, "one message per failure, not per chunk: \(forced.err.prefix(2000))")
    }
}
