import CairnCore
import CairnTree
import CairnFormat
@testable import CairnMount
import CairnRepository
import Foundation
import Testing

/// `cairn mount`: the layout's names, the view of a repository without FUSE, and the real
/// mount through the CLI where FUSE is there.
@Suite struct MountTests {
    static func snapshot(_ seconds: Int64, host: String, tags: [String]) -> Snapshot {
        Snapshot(time: Timestamp(seconds: seconds), tree: ID(Fixtures.random(32, seed: "tree")), paths: ["/src"], hostname: host,
                 username: "me", uid: 0, gid: 0, tags: tags, parent: nil, excludes: [], programVersion: "test", summary: .init())
    }

    static func names(_ e: MountLayout.Entry?) -> [String] {
        guard case .folder(let f)? = e else { return [] }
        return f.names
    }

    static func folder(_ e: MountLayout.Entry?) -> MountLayout.Folder? {
        guard case .folder(let f)? = e else { return nil }
        return f
    }

    static func link(_ e: MountLayout.Entry?) -> String? {
        guard case .link(let t, _)? = e else { return nil }
        return t
    }

    @Test func timeNamesAreRestics() {
        let t = Timestamp(seconds: 1_795_000_000, nanos: 123)   // 2026-11-18T11:06:40Z
        #expect(MountLayout.timeName(t, utcOffset: 0) == "2026-11-18T11:06:40Z")
        #expect(MountLayout.timeName(t, utcOffset: 3600) == "2026-11-18T12:06:40+01:00")
        #expect(MountLayout.timeName(t, utcOffset: -(5 * 3600 + 1800)) == "2026-11-18T05:36:40-05:30")
    }

    @Test func layoutHasIDsTimesHostsTagsLatestAndUniqueNames() {
        let a = ID(Fixtures.random(32, seed: "a")), b = ID(Fixtures.random(32, seed: "b")), c = ID(Fixtures.random(32, seed: "c"))
        let t0: Int64 = 1_795_000_000
        // a and b in the same second: b gets -1.
        let layout = MountLayout(snapshots: [(a, Self.snapshot(t0, host: "h1", tags: ["x"])),
                                             (b, Self.snapshot(t0, host: "h1", tags: ["x", "y/z"])),
                                             (c, Self.snapshot(t0 + 60, host: "h2", tags: ["y"]))],
                                 offset: { _ in 0 })
        let root = layout.root
        #expect(root.names == ["ids", "snapshots", "hosts", "tags"])
        #expect(Set(Self.names(root["ids"])) == [a.short, b.short, c.short])
        let first = "2026-11-18T11:06:40Z", second = "2026-11-18T11:07:40Z"
        #expect(Self.names(root["snapshots"]) == [first, first + "-1", second, "latest"])
        #expect(Self.link(Self.folder(root["snapshots"])?["latest"]) == second)
        #expect(Self.names(root["hosts"]) == ["h1", "h2"])
        let h1 = Self.folder(root["hosts"])?["h1"]
        #expect(Self.names(h1) == [first, first + "-1", "latest"])
        #expect(Self.link(Self.folder(h1)?["latest"]) == first + "-1")
        guard case .snapshot(let id, _)? = Self.folder(h1)?[first + "-1"] else { Issue.record("no snapshot"); return }
        #expect(id == b)
        // A tag that cannot be a file name ("y/z") is left out.
        #expect(Self.names(root["tags"]) == ["x", "y"])
        #expect(Self.names(Self.folder(root["tags"])?["y"]) == [second, "latest"])
        #expect(Self.folder(root["hosts"])?.time == Timestamp(seconds: t0 + 60))
        // No snapshots: the four folders, empty.
        let empty = MountLayout(snapshots: [])
        #expect(empty.root.names == ["ids", "snapshots", "hosts", "tags"])
        #expect(Self.names(empty.root["snapshots"]).isEmpty)
    }

    @Test func chunkCacheEvictsTheLeastRecentlyUsed() {
        let ids = (0..<5).map { ID(Fixtures.random(32, seed: "lru \($0)")) }
        var lru = LRUCache<Int>(budget: 300)
        for i in 0..<3 { lru.put(ids[i], i, cost: 100) }
        #expect(lru.get(ids[0]) == 0)   // now the newest: 1 is the oldest
        lru.put(ids[3], 3, cost: 100)
        #expect(lru.get(ids[1]) == nil && lru.get(ids[0]) == 0 && lru.get(ids[2]) == 2 && lru.get(ids[3]) == 3)
        #expect(lru.count == 3 && lru.cost == 300)
        lru.put(ids[4], 4, cost: 250)   // fits only alone: the other three go
        #expect(lru.count == 1 && lru.cost == 250 && lru.get(ids[4]) == 4)
        lru.put(ids[0], 0, cost: 301)   // larger than the budget: not kept
        #expect(lru.get(ids[0]) == nil && lru.count == 1)
        lru.put(ids[4], 5, cost: 10)    // replaced
        #expect(lru.get(ids[4]) == 5 && lru.cost == 10)
        for i in 0..<4 { lru.put(ids[i], i, cost: 60) }   // reuses the freed slots
        #expect(lru.count == 5 && lru.cost == 250)
    }

    /// A repository with one backup of a tree: a file of many chunks, a small one, a symlink, a folder.
    struct Fixture {
        let tmp = TempDir()
        let repo: Repository
        let big = Fixtures.random(300_000, seed: "mount big")
        let snapshot: ID
        init() throws {
            repo = try Fixtures.newRepository(tmp)
            Fixtures.write(tmp.sub("src/big.bin"), big)
            Fixtures.write(tmp.sub("src/sub/small.txt"), Array("small\n".utf8))
            symlink("sub/small.txt", tmp.sub("src/link"))
            chmod(tmp.sub("src/sub/small.txt"), 0o640)
            snapshot = try EngineTests.backup(repo, [tmp.sub("src")]) { $0.tags = ["one"] }.snapshotID!
        }
        /// The path of the backed-up folder in the mount, under ids/.
        var src: String { "ids/\(snapshot.short)" + tmp.sub("src") }
    }

    @Test func viewListsAttributesAndLinks() throws {
        let f = try Fixture()
        let view = try MountView(repository: f.repo)
        #expect(try view.list("/").map { String(decoding: $0.name, as: UTF8.self) } == ["ids", "snapshots", "hosts", "tags"])
        #expect(try view.list("/ids").map { String(decoding: $0.name, as: UTF8.self) } == [f.snapshot.short])
        #expect(try view.attributes("/ids").type == .directory)
        #expect(try view.attributes("/snapshots/latest").type == .symlink)
        #expect(try view.list("/tags/one").count == 2)
        let entries = try view.list(f.src)
        #expect(entries.map { String(decoding: $0.name, as: UTF8.self) } == ["big.bin", "link", "sub"])
        let big = try view.attributes(f.src + "/big.bin")
        #expect(big.type == .file && big.size == 300_000 && big.statMode & 0o170000 == 0o100000)
        let small = try view.attributes(f.src + "/sub/small.txt")
        #expect(small.mode == 0o640 && small.size == 6)
        #expect(small.mtime == Int64(Fixtures.lstat(f.tmp.sub("src/sub/small.txt")).st_mtim.tv_sec) * 1_000_000_000
                + Int64(Fixtures.lstat(f.tmp.sub("src/sub/small.txt")).st_mtim.tv_nsec))
        #expect(try view.readLink(f.src + "/link") == Array("sub/small.txt".utf8))
        let latest = String(decoding: try view.readLink("/snapshots/latest"), as: UTF8.self)
        #expect(try view.attributes("/snapshots/" + latest).type == .directory)
        #expect(throws: MountError.notFound) { try view.attributes(f.src + "/missing") }
        #expect(throws: MountError.notFound) { try view.attributes("/nothing") }
        #expect(throws: MountError.notFolder) { try view.list(f.src + "/big.bin") }
        #expect(throws: MountError.isFolder) { try view.open(f.src + "/sub") }
        #expect(throws: MountError.notLink) { try view.readLink(f.src + "/big.bin") }
    }

    @Test func readsAtAnyOffsetEqualTheOriginal() throws {
        let f = try Fixture()
        let view = try MountView(repository: f.repo, cacheBytes: 64 << 10)
        let path = f.src + "/big.bin"
        #expect(try view.read(path, offset: 0, count: 400_000) == f.big)
        #expect(try view.read(f.src + "/sub/small.txt", offset: 0, count: 4096) == Array("small\n".utf8))
        // Random pieces, most of them across chunk boundaries (chunks average 4 KiB here).
        var state: UInt64 = 0x9e3779b97f4a7c15
        func next(_ n: Int) -> Int { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return Int(state % UInt64(n)) }
        for _ in 0..<200 {
            let offset = next(f.big.count), count = 1 + next(40_000)
            let want = Array(f.big[offset..<min(f.big.count, offset + count)])
            #expect(try view.read(path, offset: UInt64(offset), count: count) == want, "offset \(offset) count \(count)")
        }
        #expect(try view.read(path, offset: 300_000, count: 10).isEmpty)
        #expect(try view.read(path, offset: 299_990, count: 100) == Array(f.big[299_990...]))
        // The chunk cache stays within its budget.
        let cached = view.cachedChunks
        #expect(cached.count > 0 && cached.bytes <= 64 << 10)
        // A handle that was closed is gone.
        let h = try view.open(path)
        view.close(h)
        #expect(throws: MountError.badHandle) {
            var buf = [UInt8](repeating: 0, count: 8)
            try buf.withUnsafeMutableBytes { _ = try view.read(h, offset: 0, into: $0) }
        }
    }

    @Test func readsFromManyThreadsAtOnceAreExact() throws {
        let f = try Fixture()
        let view = try MountView(repository: f.repo, cacheBytes: 32 << 10, refreshSeconds: 0)
        let path = f.src + "/big.bin"
        let wrong = Locked(0)
        DispatchQueue.concurrentPerform(iterations: 8) { t in
            var state = UInt64(t + 1) &* 0x9e3779b97f4a7c15
            for _ in 0..<50 {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                let offset = Int(state % 300_000), count = 1 + Int((state >> 32) % 20_000)
                let got = try? view.read(path, offset: UInt64(offset), count: count)
                if got != Array(f.big[offset..<min(300_000, offset + count)]) { wrong.withLock { $0 += 1 } }
                if state % 7 == 0 { _ = try? view.list("/ids") }
            }
        }
        #expect(wrong.withLock { $0 } == 0)
        #expect(view.cachedChunks.bytes <= 32 << 10)
    }

    @Test func listingTheTopFoldersFindsNewSnapshots() throws {
        let f = try Fixture()
        let view = try MountView(repository: f.repo, refreshSeconds: 0)
        #expect(try view.list("/ids").count == 1)
        Fixtures.write(f.tmp.sub("src/new.txt"), Array("new".utf8))
        let second = try EngineTests.backup(f.repo, [f.tmp.sub("src")]) { $0.tags = ["two"] }.snapshotID!
        #expect(try view.list("/ids").count == 2)
        let name = String(decoding: try view.readLink("/tags/two/latest"), as: UTF8.self)
        #expect(try view.read("/tags/two/\(name)" + f.tmp.sub("src/new.txt"), offset: 0, count: 10) == Array("new".utf8))
        #expect(try view.attributes("/ids/\(second.short)").type == .directory)
    }
}

/// The real mount: `cairn mount DIR` as a child process, read through the kernel.
@Suite(.serialized) struct MountCLITests {
    static let fusermount = ["/usr/bin/fusermount3", "/bin/fusermount3"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let fuseAvailable = FileManager.default.fileExists(atPath: "/dev/fuse") && fusermount != nil

    /// Whether `path` is a mount point now (/proc/self/mountinfo's fifth field).
    static func isMountpoint(_ path: String) -> Bool {
        guard let info = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return false }
        return info.split(separator: "\n").contains { $0.split(separator: " ").dropFirst(4).first.map(String.init) == path }
    }

    static func wait(seconds: Double, until done: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if done() { return true }
            usleep(50_000)
        }
        return done()
    }

    static func files(under root: String) -> [String] {
        (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []).filter {
            Fixtures.lstat(root + "/" + $0).st_mode & S_IFMT == S_IFREG
        }.sorted()
    }

    @Test(.enabled(if: MountCLITests.fuseAvailable, "needs /dev/fuse and fusermount3 (Debian's fuse3)"))
    func mountListsSnapshotsAndReadsFilesExactly() throws {
        let tmp = TempDir()
        let repo = try CLITests.initRepo(tmp)
        let src = tmp.sub("src")
        var big = Fixtures.random(5 << 20, seed: "mount cli big")
        Fixtures.write(src + "/big.bin", big)
        Fixtures.write(src + "/small.txt", Array("first\n".utf8))
        Fixtures.write(src + "/sub/nested.txt", Array("nested\n".utf8))
        Fixtures.write(src + "/empty", [])
        symlink("sub/nested.txt", src + "/link")
        #expect(try CLITests.cairn(["backup", src, "--tag", "first"], repo: repo).status == 0)
        var firstVersion: [String: [UInt8]] = [:]
        for f in Self.files(under: src) { firstVersion[f] = Fixtures.read(src + "/" + f) }
        // Second version: the middle of the big file and the small file change, a file is added.
        for i in 2_000_000..<2_100_000 { big[i] ^= 0x5a }
        Fixtures.write(src + "/big.bin", big)
        Fixtures.write(src + "/small.txt", Array("second version\n".utf8))
        Fixtures.write(src + "/sub/added.txt", Fixtures.random(100_000, seed: "added"))
        #expect(try CLITests.cairn(["backup", src, "--tag", "second"], repo: repo).status == 0)
        var secondVersion: [String: [UInt8]] = [:]
        for f in Self.files(under: src) { secondVersion[f] = Fixtures.read(src + "/" + f) }

        // Which short ID is which version.
        let json = try CLITests.cairn(["snapshots", "--json"], repo: repo).out
        let list = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]] ?? []
        var versions: [String: [String: [UInt8]]] = [:]
        for s in list {
            let id = String((s["id"] as? String ?? "").prefix(8))
            let tags = (s["snapshot"] as? [String: Any])?["tags"] as? [String] ?? []
            versions[id] = tags.contains("first") ? firstVersion : secondVersion
        }
        #expect(versions.count == 2)

        let mnt = tmp.sub("mnt")
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: false)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLITests.binary)
        p.arguments = ["-r", repo, "--no-cache", "mount", mnt]
        var env = ProcessInfo.processInfo.environment
        env["CAIRN_PASSWORD"] = "pw"
        p.environment = env
        _ = FileManager.default.createFile(atPath: tmp.sub("mount.log"), contents: nil)
        let log = FileHandle(forWritingAtPath: tmp.sub("mount.log"))!
        p.standardOutput = log; p.standardError = log
        p.standardInput = FileHandle.nullDevice
        try p.run()
        defer {
            // Whatever failed: no mount or process left behind.
            if p.isRunning { kill(p.processIdentifier, SIGINT); _ = Self.wait(seconds: 10) { !p.isRunning } }
            if Self.isMountpoint(mnt), let fm = Self.fusermount {
                let u = Process()
                u.executableURL = URL(fileURLWithPath: fm)
                u.arguments = ["-u", "-z", mnt]
                try? u.run(); u.waitUntilExit()
            }
            if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        }
        let mounted = Self.wait(seconds: 60) { Self.isMountpoint(mnt) || !p.isRunning }
        let logText = { String(decoding: Fixtures.read(tmp.sub("mount.log")) ?? [], as: UTF8.self) }
        try #require(mounted && Self.isMountpoint(mnt), "not mounted: \(logText())")

        let fm = FileManager.default
        let locks = { (try? fm.contentsOfDirectory(atPath: repo + "/locks").filter { !$0.hasPrefix(".") }.count) ?? 0 }
        #expect(locks() == 1, "a shared lock while mounted")
        #expect(try fm.contentsOfDirectory(atPath: mnt).sorted() == ["hosts", "ids", "snapshots", "tags"])
        #expect(try fm.contentsOfDirectory(atPath: mnt + "/ids").sorted() == versions.keys.sorted())
        #expect(try fm.contentsOfDirectory(atPath: mnt + "/snapshots").count == 3)
        #expect(try fm.destinationOfSymbolicLink(atPath: mnt + "/snapshots/latest").hasPrefix("20"))
        #expect(try fm.contentsOfDirectory(atPath: mnt + "/hosts") == [Host.name])
        #expect(try fm.contentsOfDirectory(atPath: mnt + "/tags").sorted() == ["first", "second"])
        #expect(Fixtures.read(mnt + "/tags/first/latest" + src + "/small.txt") == Array("first\n".utf8))
        #expect(Fixtures.read(mnt + "/tags/second/latest" + src + "/small.txt") == Array("second version\n".utf8))
        #expect(Fixtures.read(mnt + "/hosts/\(Host.name)/latest" + src + "/big.bin") == big)

        // Every file of both versions, byte for byte, and nothing more.
        for (id, files) in versions {
            let root = mnt + "/ids/" + id + src
            #expect(Self.files(under: root) == files.keys.sorted(), "\(id)")
            for (name, bytes) in files {
                #expect(Fixtures.read(root + "/" + name) == bytes, "\(id) \(name)")
            }
            #expect(try fm.destinationOfSymbolicLink(atPath: root + "/link") == "sub/nested.txt")
            #expect(Fixtures.read(root + "/link") == Array("nested\n".utf8))
            let st = Fixtures.lstat(root + "/big.bin")
            #expect(st.st_size == 5 << 20 && st.st_mode & 0o777 == Fixtures.lstat(src + "/big.bin").st_mode & 0o777)
            #expect(st.st_mtim.tv_sec > 0)
        }

        // Partial reads at random offsets, through seek.
        let second = versions.first { $0.value["sub/added.txt"] != nil }!.key
        let handle = try #require(FileHandle(forReadingAtPath: mnt + "/ids/" + second + src + "/big.bin"))
        var state: UInt64 = 88172645463325252
        for _ in 0..<30 {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            let offset = Int(state % UInt64(big.count)), count = 1 + Int((state >> 40) % 300_000)
            try handle.seek(toOffset: UInt64(offset))
            let got = try handle.read(upToCount: count).map { Array($0) } ?? []
            #expect(got == Array(big[offset..<min(big.count, offset + count)]), "offset \(offset) count \(count)")
        }
        try handle.close()

        // Read-only: writing, creating and removing fail with EROFS.
        let file = mnt + "/ids/" + second + src + "/small.txt"
        func failure(_ call: () -> Int32) -> Int32 { call() == -1 ? errno : 0 }
        #expect(failure { open(file, O_WRONLY) } == EROFS)
        #expect(failure { open(mnt + "/ids/" + second + src + "/new.txt", O_CREAT | O_WRONLY, 0o644) } == EROFS)
        #expect(failure { unlink(file) } == EROFS)
        #expect(failure { mkdir(mnt + "/ids/x", 0o755) } == EROFS)
        #expect(Fixtures.read(file) == Array("second version\n".utf8))

        // Ctrl-C unmounts, and the command exits 0.
        kill(p.processIdentifier, SIGINT)
        #expect(Self.wait(seconds: 20) { !p.isRunning }, "still running after SIGINT: \(logText())")
        if !p.isRunning {
            #expect(p.terminationReason == .exit && p.terminationStatus == 0, "\(logText())")
        }
        #expect(!Self.isMountpoint(mnt))
        #expect(locks() == 0, "the lock is released")
    }
}
