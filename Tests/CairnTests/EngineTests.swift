import CPosix
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

@Suite struct EngineTests {
    /// A source tree with the awkward cases: nested folders, an empty file, a symlink, a
    /// hardlink, a sparse file, a non-UTF-8 name, an xattr where the file system allows it.
    static func makeSource(_ root: String) {
        Fixtures.write(root + "/a/small.txt", Array("small\n".utf8))
        Fixtures.write(root + "/a/b/random.bin", Fixtures.random(300_000, seed: "random.bin"))
        Fixtures.write(root + "/a/b/copy.bin", Fixtures.random(300_000, seed: "random.bin"))
        Fixtures.write(root + "/empty", [])
        symlink("../small.txt", root + "/a/b/link")
        link(root + "/a/small.txt", root + "/a/hard.txt")
        let fd = open(root + "/sparse", O_CREAT | O_WRONLY, 0o644)
        ftruncate(fd, 4 << 20); pwrite(fd, "end", 3, (4 << 20) - 3); close(fd)
        let odd = root + "/odd-\u{1}-name"
        Fixtures.write(odd, Array("odd".utf8))
        var raw = Array((root + "/latin1-").utf8) + [0xe9, 0x2e, 0x74, 0x78, 0x74, 0]
        let f = raw.withUnsafeMutableBufferPointer { $0.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_CREAT | O_WRONLY, 0o600) } }
        close(f)
        chmod(root + "/a/small.txt", 0o640)
        _ = "v".withCString { setxattr(root + "/a/small.txt", "user.cairn", $0, 1, 0) }
    }

    static func backup(_ repo: Repository, _ paths: [String], _ mutate: (inout BackupOptions) -> Void = { _ in }) throws -> BackupResult {
        var o = BackupOptions()
        mutate(&o)
        return try Archiver(repository: repo, options: o).backup(paths: paths)
    }

    static func restore(_ repo: Repository, _ snapshot: ID, path: String, to target: String, _ mutate: (inout RestoreOptions) -> Void = { _ in }) throws -> RestoreResult {
        let snap = try repo.loadSnapshot(snapshot)
        let node = try repo.node(at: path, root: snap.treeID!)
        var o = RestoreOptions(); mutate(&o)
        return try Restorer(repository: repo, options: o).restore(node: node, displayPath: Array(path.utf8), target: target)
    }

    static func assertSame(_ a: String, _ b: String) {
        let fm = FileManager.default
        let e = fm.enumerator(atPath: a)!
        var count = 0
        while let rel = e.nextObject() as? String {
            count += 1
            let sa = Fixtures.lstat(a + "/" + rel), sb = Fixtures.lstat(b + "/" + rel)
            #expect(sa.st_mode == sb.st_mode, "\(rel) mode")
            #expect(sa.st_size == sb.st_size, "\(rel) size")
            if sa.st_mode & S_IFMT != S_IFDIR { #expect(sa.st_mtim.tv_sec == sb.st_mtim.tv_sec && sa.st_mtim.tv_nsec == sb.st_mtim.tv_nsec, "\(rel) mtime") }
            if sa.st_mode & S_IFMT == S_IFREG { #expect(Fixtures.read(a + "/" + rel) == Fixtures.read(b + "/" + rel), "\(rel) content") }
            if sa.st_mode & S_IFMT == S_IFLNK {
                #expect(try! fm.destinationOfSymbolicLink(atPath: a + "/" + rel) == (try? fm.destinationOfSymbolicLink(atPath: b + "/" + rel)))
            }
        }
        #expect(count > 0)
    }

    @Test func backupAndRestoreAreExact() throws {
        let tmp = TempDir()
        let src = tmp.sub("src")
        Self.makeSource(src)
        let repo = try Fixtures.newRepository(tmp)
        let r = try Self.backup(repo, [src])
        #expect(r.warnings.isEmpty)
        #expect(r.snapshot.summary.filesNew == 8)   // regular files; the symlink is not one
        let repo2 = try Fixtures.reopen(tmp)
        let res = try Self.restore(repo2, r.snapshotID!, path: src, to: tmp.sub("out"), { $0.verify = true })
        #expect(res.warnings.isEmpty, "\(res.warnings)")
        Self.assertSame(src, tmp.sub("out"))
        // Hardlinks stay linked, holes stay holes, xattrs come back.
        let h1 = Fixtures.lstat(tmp.sub("out/a/small.txt")), h2 = Fixtures.lstat(tmp.sub("out/a/hard.txt"))
        #expect(h1.st_ino == h2.st_ino)
        #expect(Fixtures.lstat(tmp.sub("out/sparse")).st_blocks < 64)
        var v: [UInt8] = [0, 0]
        if getxattr(src + "/a/small.txt", "user.cairn", &v, 2) == 1 {
            v = [0, 0]
            #expect(getxattr(tmp.sub("out/a/small.txt"), "user.cairn", &v, 2) == 1 && v[0] == 118)
        }
    }

    @Test func unchangedFilesAreNotReadAgain() throws {
        let tmp = TempDir()
        let src = tmp.sub("src")
        Self.makeSource(src)
        let repo = try Fixtures.newRepository(tmp)
        let first = try Self.backup(repo, [src])
        let second = try Self.backup(try Fixtures.reopen(tmp), [src])
        #expect(second.parent == first.snapshotID)
        #expect(second.snapshot.summary.filesUnmodified == 8)
        #expect(second.snapshot.summary.bytesRead == 0)
        // No data is added; the folders above src (/tmp ...) may change while tests run in
        // parallel, so compare the subtree of src itself.
        #expect(second.snapshot.summary.dataBlobs == 0)
        func srcTree(_ s: Snapshot) throws -> ID? { try Fixtures.reopen(tmp).node(at: src, root: s.treeID!).subtree }
        #expect(try srcTree(second.snapshot) == srcTree(first.snapshot))
        Fixtures.write(src + "/a/small.txt", Array("changed\n".utf8))
        let third = try Self.backup(try Fixtures.reopen(tmp), [src])
        // small.txt and its hardlink hard.txt (its ctime changed with the link count or content).
        #expect(third.snapshot.summary.filesChanged == 2)
        #expect(try srcTree(third.snapshot) != srcTree(first.snapshot))
        let forced = try Self.backup(try Fixtures.reopen(tmp), [src]) { $0.force = true }
        #expect(forced.snapshot.summary.filesUnmodified == 0)
        #expect(forced.snapshot.summary.dataBlobs == 0)
    }

    @Test func duplicateContentIsStoredOnce() throws {
        let tmp = TempDir()
        let src = tmp.sub("src")
        Self.makeSource(src)
        let repo = try Fixtures.newRepository(tmp)
        let r = try Self.backup(repo, [src])
        // random.bin and copy.bin are identical: ~300 KB of incompressible data stored once.
        #expect(r.snapshot.summary.bytesAdded < 400_000)
        #expect(r.snapshot.summary.bytesRead > 600_000)
    }

    @Test func excludesAndDryRun() throws {
        let tmp = TempDir()
        let src = tmp.sub("src")
        Self.makeSource(src)
        let repo = try Fixtures.newRepository(tmp)
        let dry = try Self.backup(repo, [src]) { $0.dryRun = true }
        #expect(dry.snapshotID == nil)
        #expect(try repo.list(.snapshot).isEmpty && repo.backend.list(.pack).isEmpty)
        #expect(dry.snapshot.summary.bytesAdded > 300_000)
        let r = try Self.backup(repo, [src]) { $0.excludes = ["*.bin", src + "/sparse"] }
        let snap = try repo.loadSnapshot(r.snapshotID!)
        #expect(throws: RepositoryError.self) { try repo.node(at: src + "/a/b/random.bin", root: snap.treeID!) }
        #expect(throws: RepositoryError.self) { try repo.node(at: src + "/sparse", root: snap.treeID!) }
        #expect(try repo.node(at: src + "/a/small.txt", root: snap.treeID!).size == 6)
    }

    @Test func unreadableFilesAreReportedAndSkipped() throws {
        guard geteuid() != 0 else { return }   // root reads everything; the CLI test covers exit 3
        let tmp = TempDir()
        let src = tmp.sub("src")
        Self.makeSource(src)
        chmod(src + "/a/small.txt", 0)
        let r = try Self.backup(try Fixtures.newRepository(tmp), [src])
        #expect(r.warnings.count == 1)
    }

    @Test func streamsRoundTrip() throws {
        let tmp = TempDir()
        let repo = try Fixtures.newRepository(tmp)
        let data = Fixtures.random(1_000_000, seed: "stream") + Array(repeating: 0, count: 100_000)
        var pos = 0
        let r = try Archiver(repository: repo, options: BackupOptions()).backup(streamNamed: "disk.img") { buf in
            let n = min(buf.count, data.count - pos, 5000)
            data.withUnsafeBytes { buf.baseAddress!.copyMemory(from: $0.baseAddress! + pos, byteCount: n) }
            pos += n; return n
        }
        let repo2 = try Fixtures.reopen(tmp)
        let root = try repo2.loadTree(try repo2.loadSnapshot(r.snapshotID!).treeID!)
        #expect(root.nodes.count == 1 && root.nodes[0].nameString == "disk.img")
        var out: [UInt8] = []
        try repo2.dump(root.nodes[0]) { out += $0 }
        #expect(out == data)
    }

    @Test func wrongPasswordIsRefused() throws {
        let tmp = TempDir()
        _ = try Fixtures.newRepository(tmp)
        #expect {
            try Repository.open(backend: LocalBackend(path: tmp.sub("repo")), password: Array("nope".utf8))
        } throws: { e in if case RepositoryError.wrongPassword = e { return true }; return false }
        #expect {
            try Repository.open(backend: LocalBackend(path: tmp.sub("missing")), password: Fixtures.password)
        } throws: { e in if case RepositoryError.noRepository = e { return true }; return false }
    }

    @Test func aFlippedByteIsFoundAndOtherFilesStillRestore() throws {
        let tmp = TempDir()
        let src = tmp.sub("src")
        Fixtures.write(src + "/one.bin", Fixtures.random(200_000, seed: "one"))
        Fixtures.write(src + "/two.bin", Fixtures.random(200_000, seed: "two"))
        let repo = try Fixtures.newRepository(tmp)
        let r = try Self.backup(repo, [src])
        #expect(try Checker(repository: repo).run(readData: true).healthy)
        // Damage the blob holding the start of one.bin.
        let node = try repo.node(at: src + "/one.bin", root: r.snapshot.treeID!)
        let loc = repo.lookup(.data, node.chunks[0])!
        let path = tmp.sub("repo/data/\(loc.pack.hex.prefix(2))/\(loc.pack.hex)")
        var bytes = Fixtures.read(path)!
        bytes[Int(loc.entry.offset) + 40] ^= 0x01
        chmod(path, 0o600)
        Fixtures.write(path, bytes)
        let report = try Checker(repository: try Fixtures.reopen(tmp)).run(readData: true)
        #expect(!report.healthy)
        #expect(report.damage.contains { $0.kind == "pack" && $0.id == loc.pack.hex })
        #expect(report.damage.contains { $0.kind == "blob" && $0.id == node.chunks[0].hex })
        #expect(report.affected.contains { $0.path == src + "/one.bin" })
        #expect(!report.affected.contains { $0.path == src + "/two.bin" })
        let res = try Self.restore(try Fixtures.reopen(tmp), r.snapshotID!, path: src, to: tmp.sub("out"))
        #expect(res.warnings.count == 1)
        #expect(Fixtures.read(tmp.sub("out/two.bin")) == Fixtures.read(src + "/two.bin"))
    }

    @Test func packsOfAnInterruptedBackupAreReused() throws {
        let tmp = TempDir()
        let repo = try Fixtures.newRepository(tmp)
        // Simulate a run killed after writing packs but before any index or snapshot.
        for i in 0..<50 { try repo.saveBlob(.data, Fixtures.random(8000, seed: "blob \(i)")) }
        let packs = try repo.backend.list(.pack).count
        #expect(packs >= 2)
        let fresh = try Fixtures.reopen(tmp)
        #expect(fresh.index.count == 0)
        #expect(try Checker(repository: fresh).run(readData: false).healthy)
        let adopted = try fresh.indexUnindexedPacks()
        #expect(adopted.fromJournal + adopted.fromHeaders == packs)
        // Blobs in written packs are reused; those still in the open pack when "killed" are not there.
        #expect(fresh.index.count >= 40)
        var reused = 0
        for i in 0..<50 {
            let blob = Fixtures.random(8000, seed: "blob \(i)")
            let had = fresh.hasBlob(.data, fresh.blobID(blob))
            #expect(try fresh.saveBlob(.data, blob).new == !had)
            if had { reused += 1 }
        }
        #expect(reused == fresh.index.count)
    }

    @Test func hostileTreesNeverWriteOutsideTheTarget() throws {
        let tmp = TempDir()
        let repo = try Fixtures.newRepository(tmp)
        let payload = try repo.saveBlob(.data, Array("pwned".utf8)).id
        func file(_ name: [UInt8]) -> Node { Node(name: name, type: .file, mode: 0o644, size: 5, content: .chunks([payload])) }
        // A symlink named "esc" pointing outside, then a folder and file trying to use it.
        let inner = try repo.saveTree(Tree(nodes: [file(Array("x".utf8))]))
        var nodes = [file(Array("..".utf8)), file(Array("a/b".utf8)), file([]), file(Array("ok".utf8)),
                     Node(name: Array("esc".utf8), type: .symlink, linkTarget: Array((tmp.path + "/outside").utf8)),
                     Node(name: Array("esc".utf8) + [0], type: .directory, content: .subtree(inner))]
        nodes.sort { $0.name.lexicographicallyPrecedes($1.name) }
        let root = try repo.saveTree(Tree(nodes: nodes))
        try repo.flush()
        mkdir(tmp.sub("outside"), 0o700)
        let res = try Restorer(repository: repo, options: RestoreOptions())
            .restore(node: Node(name: [], type: .directory, content: .subtree(root)), displayPath: [], target: tmp.sub("target"))
        #expect(res.warnings.count >= 4)
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.sub("outside")).isEmpty)
        #expect(Fixtures.read(tmp.sub("target/ok")) == Array("pwned".utf8))
        #expect(!FileManager.default.fileExists(atPath: tmp.path + "/.."  + "/pwned"))
        // A symlink already in the target is replaced, never followed.
        let r2 = try repo.saveTree(Tree(nodes: [file(Array("esc".utf8))]))
        try repo.flush()
        _ = try Restorer(repository: repo, options: RestoreOptions())
            .restore(node: Node(name: [], type: .directory, content: .subtree(r2)), displayPath: [], target: tmp.sub("target"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.sub("outside")).isEmpty)
        #expect(Fixtures.lstat(tmp.sub("target/esc")).st_mode & S_IFMT == S_IFREG)
    }

    @Test func overwritePolicies() throws {
        let tmp = TempDir()
        let src = tmp.sub("src")
        Fixtures.write(src + "/f", Array("new".utf8))
        let repo = try Fixtures.newRepository(tmp)
        let r = try Self.backup(repo, [src])
        Fixtures.write(tmp.sub("out/f"), Array("old!".utf8))
        let never = try Self.restore(repo, r.snapshotID!, path: src, to: tmp.sub("out")) { $0.overwrite = .never }
        #expect(never.skipped == 1 && Fixtures.read(tmp.sub("out/f")) == Array("old!".utf8))
        _ = try Self.restore(repo, r.snapshotID!, path: src, to: tmp.sub("out")) { $0.overwrite = .ifChanged }
        #expect(Fixtures.read(tmp.sub("out/f")) == Array("new".utf8))
        let again = try Self.restore(repo, r.snapshotID!, path: src, to: tmp.sub("out")) { $0.overwrite = .ifChanged }
        #expect(again.skipped == 1)
    }

    @Test func locksConflictAndGoStale() throws {
        let tmp = TempDir()
        let repo = try Fixtures.newRepository(tmp)
        let shared = try repo.acquireLock(exclusive: false, operation: "test")
        let shared2 = try repo.acquireLock(exclusive: false, operation: "test")
        #expect(throws: RepositoryError.self) { try repo.acquireLock(exclusive: true, operation: "test") }
        shared.release(); shared2.release()
        let ex = try repo.acquireLock(exclusive: true, operation: "test")
        #expect(throws: RepositoryError.self) { try repo.acquireLock(exclusive: false, operation: "test") }
        ex.release()
        // A lock from a process that is gone is stale.
        let dead = Lock(time: .now(), exclusive: true, hostname: Host.name, username: "x", pid: 999_999, operation: "dead")
        try repo.saveFile(.lock, try dead.encoded(), compress: false)
        let l = try repo.acquireLock(exclusive: true, operation: "test")
        l.release()
        #expect(try repo.removeLocks(all: false) == 1)
    }

    @Test func cacheServesAndHealsItself() throws {
        let tmp = TempDir()
        let src = tmp.sub("src")
        Self.makeSource(src)
        let repo = try Fixtures.newRepository(tmp)
        try repo.attachCache(folder: tmp.sub("cache"))
        let r = try Self.backup(repo, [src])
        let cached = try Fixtures.reopen(tmp)
        try cached.attachCache(folder: tmp.sub("cache"))
        #expect(FileManager.default.fileExists(atPath: tmp.sub("cache/\(repo.id.hex)/cache.sqlite")))
        #expect(try cached.loadSnapshot(r.snapshotID!).tree == r.snapshot.tree)
        // Deleting the cache loses nothing.
        try FileManager.default.removeItem(atPath: tmp.sub("cache"))
        let again = try Fixtures.reopen(tmp)
        try again.attachCache(folder: tmp.sub("cache"))
        _ = try Self.restore(again, r.snapshotID!, path: src, to: tmp.sub("out"))
        Self.assertSame(src, tmp.sub("out"))
    }
}
