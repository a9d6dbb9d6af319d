import CairnCore
import CairnCrypto
@testable import CairnCheck
@testable import CairnMaintenance
@testable import CairnTree
import CairnFormat
import CairnRepository
import CairnStorage
import Foundation
import Testing

/// `prune`: reclaiming unused space, --dry-run, --max-unused, locks, and a property test of
/// random backups, snapshot removals, prunes and `kill -9`ed prunes (that sequence now lives in MaintenanceSequenceTests, driven through forget and rewrite).
@Suite(.serialized) struct PruneTests {
    /// Bytes of every pack in a local repository.
    static func packBytes(_ repo: String) -> UInt64 {
        let fm = FileManager.default
        return (fm.subpaths(atPath: repo + "/data") ?? []).reduce(UInt64(0)) { s, p in
            s + ((try? fm.attributesOfItem(atPath: repo + "/data/" + p)[.size] as? UInt64) ?? 0)
        }
    }

    /// Every file below a folder with its SHA-256 (locks aside).
    static func listing(_ root: String) -> [String: String] {
        var out: [String: String] = [:]
        let fm = FileManager.default
        for p in fm.subpaths(atPath: root) ?? [] where !p.hasPrefix("locks/") {
            var isDir: ObjCBool = false
            if fm.fileExists(atPath: root + "/" + p, isDirectory: &isDir), !isDir.boolValue {
                out[p] = SHA256.hash(Fixtures.read(root + "/" + p) ?? []).hex
            }
        }
        return out
    }

    static func removeSnapshot(_ repo: Repository, _ id: ID) throws { try repo.backend.delete(.snapshot, id.hex) }

    /// Ten 200 KB files backed up; four replaced and backed up again; the first snapshot
    /// removed: about 4 / 14 of the data (29 %) is unused, spread over partly used packs.
    static func thirtyPercentUnused(_ tmp: TempDir) throws -> (Repository, ID, String, UInt64) {
        let repo = try Fixtures.newRepository(tmp)
        let src = tmp.sub("src")
        let size = 200_000
        for i in 0..<10 { Fixtures.write(src + "/f\(i)", Fixtures.random(size, seed: "v1-\(i)")) }
        let s1 = try EngineTests.backup(repo, [src]).snapshotID!
        for i in [1, 4, 6, 9] { Fixtures.write(src + "/f\(i)", Fixtures.random(size, seed: "v2-\(i)")) }
        let s2 = try EngineTests.backup(repo, [src]).snapshotID!
        try removeSnapshot(repo, s1)
        return (try Fixtures.reopen(tmp), s2, src, UInt64(4 * size))
    }

    @Test func reclaimsThirtyPercentUnused() throws {
        let tmp = TempDir()
        let (repo, s2, src, unused) = try Self.thirtyPercentUnused(tmp)
        let before = Self.packBytes(tmp.sub("repo"))
        let r = try prune(repo, options: PruneOptions())
        let after = Self.packBytes(tmp.sub("repo"))
        let freed = before - after
        #expect(r.plan.unusedBytes >= unused && r.plan.unusedBytes < unused + unused / 10, "\(r.plan)")
        #expect(r.plan.packsToRepack > 0 && r.packsWritten > 0, "\(r.plan)")
        #expect(r.plan.unusedShareAfter <= 0.05)
        // Freed: the unused bytes, less what 5 % lets stay, within a margin for pack headers.
        #expect(Double(freed) >= Double(unused) * 0.85 && Double(freed) <= Double(unused) * 1.05, "freed \(freed) of \(before), unused \(unused)")
        let reopened = try Fixtures.reopen(tmp)
        let check = try Checker(repository: reopened).run(readData: true)
        #expect(check.healthy && check.hints.isEmpty, "\(check.damage) \(check.hints)")
        let out = tmp.sub("out")
        _ = try EngineTests.restore(reopened, s2, path: "", to: out)
        EngineTests.assertSame(src, out + src)
        // A second prune has nothing left to do.
        let again = try prune(try Fixtures.reopen(tmp), options: PruneOptions())
        #expect(again.plan.packsToDelete == 0 && again.plan.packsToRepack == 0 && again.packsDeleted == 0)
    }

    @Test func dryRunChangesNothing() throws {
        let tmp = TempDir()
        let (repo, _, _, _) = try Self.thirtyPercentUnused(tmp)
        let before = Self.listing(tmp.sub("repo"))
        let r = try prune(repo, options: PruneOptions(dryRun: true))
        #expect(r.dryRun && r.plan.packsToDelete + r.plan.packsToRepack > 0 && r.packsDeleted == 0 && r.packsWritten == 0)
        #expect(Self.listing(tmp.sub("repo")) == before)
        // The real run does what the dry run said.
        let real = try prune(try Fixtures.reopen(tmp), options: PruneOptions())
        #expect(real.plan == r.plan)
    }

    @Test func maxUnusedUnlimitedAndZero() throws {
        let tmp = TempDir()
        let (repo, s2, src, _) = try Self.thirtyPercentUnused(tmp)
        // unlimited: fully unused packs only.
        let packsBefore = Set(try repo.list(.pack))
        let plan = try Pruner(repository: repo).plan(PruneOptions(maxUnused: .unlimited))
        #expect(plan.repack.isEmpty && plan.stats.packsToRepack == 0)
        let u = try prune(repo, options: PruneOptions(maxUnused: .unlimited))
        #expect(u.packsWritten == 0 && u.packsDeleted == plan.delete.count)
        let packsAfter = Set(try repo.list(.pack))
        #expect(packsAfter == packsBefore.subtracting(plan.delete))
        // Every deleted pack held nothing a snapshot uses: the kept ones still hold unused blobs.
        let next = try Pruner(repository: try Fixtures.reopen(tmp)).plan(PruneOptions(maxUnused: .percent(0)))
        #expect(next.delete.isEmpty && next.stats.unusedBytes == u.plan.unusedAfter && next.stats.unusedBytes > 0)
        // 0 %: every partly used pack is repacked; nothing unused remains.
        #expect(next.stats.unusedAfter == 0 && next.repack.count == next.stats.packsToRepack && next.stats.packsToRepack > 0)
        let z = try prune(try Fixtures.reopen(tmp), options: PruneOptions(maxUnused: .percent(0)))
        #expect(z.packsDeleted == next.repack.count)
        let final = try Pruner(repository: try Fixtures.reopen(tmp)).plan(PruneOptions(maxUnused: .percent(0)))
        #expect(final.stats.unusedBytes == 0 && final.nothingToDo, "\(final.stats)")
        let reopened = try Fixtures.reopen(tmp)
        #expect(try Checker(repository: reopened).run(readData: true).healthy)
        _ = try EngineTests.restore(reopened, s2, path: "", to: tmp.sub("out"))
        EngineTests.assertSame(src, tmp.sub("out") + src)
        // --max-repack-size bounds the repacking.
        #expect(try PruneOptions.parseMaxUnused("5%") == .percent(5))
        #expect(try PruneOptions.parseMaxUnused("unlimited") == .unlimited)
        #expect(try PruneOptions.parseMaxUnused("10M") == .bytes(10 << 20))
        #expect(throws: RepositoryError.self) { try PruneOptions.parseMaxUnused("150%") }
    }

    @Test func maxRepackSizeLimitsRepacking() throws {
        let tmp = TempDir()
        let (repo, _, _, _) = try Self.thirtyPercentUnused(tmp)
        let all = try Pruner(repository: repo).plan(PruneOptions(maxUnused: .percent(0)))
        #expect(all.repack.count >= 2)
        let limited = try Pruner(repository: repo).plan(PruneOptions(maxUnused: .percent(0), maxRepackSize: all.stats.bytesToRepack / 2))
        #expect(limited.stats.bytesToRepack <= all.stats.bytesToRepack / 2 && limited.stats.packsToRepack < all.stats.packsToRepack)
        #expect(limited.stats.unusedAfter > 0)
    }

    @Test func duplicateBlobsKeepOneCopy() throws {
        let tmp = TempDir()
        let (repo, s2, src, _) = try Self.thirtyPercentUnused(tmp)
        // Write the blobs of one data pack again into a new pack: every one is then stored twice.
        let listing = try repo.indexedPacks()
        let (victim, entries) = listing.packs.first { $0.value.first?.type == .data }!
        let bytes = try repo.backend.read(.pack, victim.hex)
        repo.useIndex([])   // the packer then takes every blob as new
        for e in entries { try bytes.withUnsafeBytes { _ = try repo.saveStoredBlob(e, UnsafeRawBufferPointer(rebasing: $0[Int(e.offset)..<Int(e.offset) + Int(e.storedLength)])) } }
        try repo.flush()
        let plan = try Pruner(repository: try Fixtures.reopen(tmp)).plan(PruneOptions(maxUnused: .percent(0)))
        #expect(plan.stats.duplicateBlobs > 0)
        _ = try prune(try Fixtures.reopen(tmp), options: PruneOptions(maxUnused: .percent(0)))
        let after = try Fixtures.reopen(tmp).indexedPacks()
        var seen = Set<ID>()
        for (_, es) in after.packs { for e in es { #expect(seen.insert(e.id).inserted, "blob \(e.id.short) kept twice") } }
        let reopened = try Fixtures.reopen(tmp)
        #expect(try Checker(repository: reopened).run(readData: true).healthy)
        _ = try EngineTests.restore(reopened, s2, path: "", to: tmp.sub("out"))
        EngineTests.assertSame(src, tmp.sub("out") + src)
    }

    @Test func refusesWhileSnapshotUnreadableOrBlobMissing() throws {
        let tmp = TempDir()
        let (repo, s2, _, _) = try Self.thirtyPercentUnused(tmp)
        // A data pack the kept snapshot needs goes missing: prune must delete nothing.
        let snapTree = try repo.loadSnapshot(s2).treeID!
        var needed: ID?
        try repo.walk(snapTree) { _, n in
            if needed == nil, n.type == .file, let c = n.chunks.first { needed = repo.lookup(.data, c)!.pack }
            return true
        }
        let path = tmp.sub("repo/data/\(needed!.hex.prefix(2))/\(needed!.hex)")
        let saved = Fixtures.read(path)!
        try FileManager.default.removeItem(atPath: path)
        let before = Self.listing(tmp.sub("repo"))
        #expect(throws: RepositoryError.self) { try prune(try Fixtures.reopen(tmp)) }
        #expect(Self.listing(tmp.sub("repo")) == before)
        Fixtures.write(path, saved)
        // An unreadable snapshot file: same.
        Fixtures.write(tmp.sub("repo/snapshots/" + String(repeating: "ab", count: 32)), [1, 2, 3])
        #expect(throws: RepositoryError.self) { try prune(try Fixtures.reopen(tmp)) }
    }

    /// Interrupted at each step of the write order: the repository checks healthy (at most
    /// a note about unindexed packs), the kept snapshot restores, and the next prune finishes.
    @Test func interruptedAtEachStepThenFinished() throws {
        for stop in [Pruner.Stop.afterCopy, .afterIndex, .midDelete] {
            let tmp = TempDir()
            let (repo, s2, src, _) = try Self.thirtyPercentUnused(tmp)
            let pruner = Pruner(repository: repo)
            pruner.stopAt = stop
            #expect(throws: RepositoryError.self) { try pruner.run(PruneOptions()) }
            let mid = try Checker(repository: try Fixtures.reopen(tmp)).run(readData: true)
            #expect(mid.healthy, "\(stop): \(mid.damage)")
            let out = tmp.sub("mid")
            _ = try EngineTests.restore(try Fixtures.reopen(tmp), s2, path: "", to: out)
            EngineTests.assertSame(src, out + src)
            _ = try prune(try Fixtures.reopen(tmp))
            let done = try Pruner(repository: try Fixtures.reopen(tmp)).plan(PruneOptions())
            #expect(done.nothingToDo && done.stats.unusedShareAfter <= 0.05, "\(stop): \(done.stats)")
            let end = try Checker(repository: try Fixtures.reopen(tmp)).run(readData: true)
            #expect(end.healthy && end.hints.isEmpty, "\(stop): \(end.damage) \(end.hints)")
        }
    }

    /// Old index files put back after a prune (a crash between writing the superseding index
    /// and deleting the old files, packs already gone): readers ignore them; prune removes them.
    @Test func supersededIndexFilesAreIgnoredThenRemoved() throws {
        let tmp = TempDir()
        let (repo, s2, src, _) = try Self.thirtyPercentUnused(tmp)
        let fm = FileManager.default
        let oldNames = try fm.contentsOfDirectory(atPath: tmp.sub("repo/index"))
        let old = oldNames.map { ($0, Fixtures.read(tmp.sub("repo/index/" + $0))!) }
        _ = try prune(repo, options: PruneOptions(maxUnused: .percent(0)))
        for (n, b) in old { Fixtures.write(tmp.sub("repo/index/" + n), b) }
        let mid = try Checker(repository: try Fixtures.reopen(tmp)).run(readData: true)
        // Healthy: the superseded files are noted, and so are the packs only they name, which
        // stay visible (§9: superseding only narrows) though prune deleted them.
        #expect(mid.healthy && mid.hints.contains { $0.contains("superseded") }, "\(mid.damage) \(mid.hints)")
        _ = try EngineTests.restore(try Fixtures.reopen(tmp), s2, path: "", to: tmp.sub("out"))
        EngineTests.assertSame(src, tmp.sub("out") + src)
        _ = try prune(try Fixtures.reopen(tmp))
        #expect(Set(try fm.contentsOfDirectory(atPath: tmp.sub("repo/index"))).isDisjoint(with: oldNames))
        #expect(try Checker(repository: try Fixtures.reopen(tmp)).run(readData: true).hints.isEmpty)
    }

    // MARK: CLI: locks, dry run, kill -9

    static func initRepo(_ tmp: TempDir) throws -> String {
        let repo = tmp.sub("repo")
        let r = try CLITests.cairn(["init", "--kdf-n", "1024", "--pack-size", "1", "--chunk-avg", "16384"], repo: repo)
        #expect(r.status == 0, "\(r.err)")
        return repo
    }

    static func openCLIRepo(_ path: String) throws -> Repository {
        let r = try Repository.open(backend: LocalBackend(path: path), password: Array("pw".utf8))
        try r.loadIndex()
        return r
    }

    @Test func locksKeepPruneAndBackupApart() throws {
        let tmp = TempDir()
        let repo = try Self.initRepo(tmp)
        let src = tmp.sub("src")
        Fixtures.write(src + "/a", Fixtures.random(500_000, seed: "lock-a"))
        #expect(try CLITests.cairn(["backup", src], repo: repo).status == 0)
        let lib = try Self.openCLIRepo(repo)
        // A live backup's shared lock (this process is alive): prune refuses with exit 11.
        let shared = try lib.acquireLock(exclusive: false, operation: "backup")
        let refused = try CLITests.cairn(["prune"], repo: repo)
        #expect(refused.status == 11 && refused.err.contains("locked"), "\(refused.err)")
        shared.release()
        #expect(try CLITests.cairn(["prune"], repo: repo).status == 0)
        // While prune holds its exclusive lock, a backup refuses.
        let exclusive = try lib.acquireLock(exclusive: true, operation: "prune")
        let backup = try CLITests.cairn(["backup", src], repo: repo)
        #expect(backup.status == 11 && backup.err.contains("exclusive"), "\(backup.err)")
        exclusive.release()
        #expect(try CLITests.cairn(["backup", src], repo: repo).status == 0)
    }

    @Test func cliDryRunAndSummary() throws {
        let tmp = TempDir()
        let repo = try Self.initRepo(tmp)
        let src = tmp.sub("src")
        for i in 0..<6 { Fixtures.write(src + "/f\(i)", Fixtures.random(300_000, seed: "cli-\(i)")) }
        #expect(try CLITests.cairn(["backup", src], repo: repo).status == 0)
        let first = try FileManager.default.contentsOfDirectory(atPath: repo + "/snapshots")
        for i in 0..<3 { Fixtures.write(src + "/f\(i)", Fixtures.random(300_000, seed: "cli2-\(i)")) }
        #expect(try CLITests.cairn(["backup", src], repo: repo).status == 0)
        try FileManager.default.removeItem(atPath: repo + "/snapshots/" + first[0])
        let before = Self.listing(repo)
        let bytesBefore = Self.packBytes(repo)
        let dry = try CLITests.cairn(["prune", "--dry-run", "--json"], repo: repo)
        #expect(dry.status == 0, "\(dry.err)")
        let json = try JSONDecoder().decode(PruneResult.self, from: Data(dry.out.utf8))
        #expect(json.dryRun && json.plan.bytesToDelete + json.plan.bytesToRepack > 0)
        #expect(Self.listing(repo) == before)
        let text = try CLITests.cairn(["prune", "--dry-run", "--max-unused", "unlimited"], repo: repo)
        #expect(text.out.contains("to delete:") && text.out.contains("to repack: 0 pack(s)"), "\(text.out)")
        let real = try CLITests.cairn(["prune", "--max-unused", "0%"], repo: repo)
        #expect(real.status == 0 && real.out.contains("deleted:") && real.out.contains("freed"), "\(real.out) \(real.err)")
        #expect(Self.packBytes(repo) + 800_000 <= bytesBefore, "\(Self.packBytes(repo)) of \(bytesBefore)")
        let check = try CLITests.cairn(["check", "--read-data"], repo: repo)
        #expect(check.status == 0, "\(check.out)")
        let bad = try CLITests.cairn(["prune", "--max-unused", "lots"], repo: repo)
        #expect(bad.status != 0)
    }

    /// Eight small backups leave sixteen small packs (a data and a tree pack each);
    /// --repack-small merges them into one per blob type, and running it again changes nothing.
    @Test func repackSmallMergesSmallPacks() throws {
        let tmp = TempDir()
        let repo = tmp.sub("repo")
        #expect(try CLITests.cairn(["init", "--kdf-n", "1024"], repo: repo).status == 0)   // 16 MiB target packs
        let src = tmp.sub("src")
        var contents: [String: [UInt8]] = [:]
        for i in 0..<8 {
            contents["f\(i)"] = Fixtures.random(100_000, seed: "small-\(i)")
            Fixtures.write(src + "/f\(i)", contents["f\(i)"]!)
            #expect(try CLITests.cairn(["backup", src], repo: repo).status == 0)
        }
        func packCount() -> Int { (FileManager.default.subpaths(atPath: repo + "/data") ?? []).filter { $0.count > 60 }.count }
        #expect(packCount() == 16)
        let plain = try CLITests.cairn(["prune", "--dry-run", "--json"], repo: repo)
        #expect(try JSONDecoder().decode(PruneResult.self, from: Data(plain.out.utf8)).plan.packsToRepack == 0, "nothing unused: plain prune leaves them")
        let r = try CLITests.cairn(["prune", "--repack-small"], repo: repo)
        #expect(r.status == 0, "\(r.err)")
        #expect(packCount() == 2, "one data and one tree pack")
        let again = try CLITests.cairn(["prune", "--repack-small", "--dry-run", "--json"], repo: repo)
        #expect(try JSONDecoder().decode(PruneResult.self, from: Data(again.out.utf8)).plan.packsToRepack == 0)
        let check = try CLITests.cairn(["check", "--read-data"], repo: repo)
        #expect(check.status == 0, "\(check.out)")
        let out = tmp.sub("out")
        #expect(try CLITests.cairn(["restore", "latest", "--target", out], repo: repo).status == 0)
        for (n, b) in contents { #expect(Fixtures.read(out + src + "/" + n) == b) }
    }

    /// Repacking reads only the ranges holding blobs to copy: each blob in exactly one read,
    /// reads in order and apart, none longer than the limit unless one blob is, gaps small.
    @Test func readRunsCoverEachBlobOnce() throws {
        var rng = SplitMix(state: 77)
        for _ in 0..<200 {
            var offset: UInt64 = 0
            var entries: [BlobEntry] = []
            for _ in 0..<rng.below(60) {
                offset += UInt64(rng.below(3) == 0 ? rng.below(600_000) : 0)
                let len = UInt32(40 + rng.below(rng.below(4) == 0 ? 9_000_000 : 300_000))
                entries.append(BlobEntry(type: .data, compression: .none, storedLength: len, offset: offset, plainLength: len, id: ID(Fixtures.random(32, seed: "\(offset)"))))
                offset += UInt64(len)
            }
            let runs = Pruner.readRuns(entries.shuffled(), gap: 256 << 10, limit: 8 << 20)
            #expect(runs.flatMap(\.entries).map(\.offset) == entries.map(\.offset))
            for (i, r) in runs.enumerated() {
                #expect(r.start == r.entries.first!.offset && r.end == r.entries.last!.offset + UInt64(r.entries.last!.storedLength))
                #expect(r.end - r.start <= 8 << 20 || r.entries.count == 1)
                for (a, b) in zip(r.entries, r.entries.dropFirst()) { #expect(b.offset - (a.offset + UInt64(a.storedLength)) < 256 << 10) }
                if i > 0 { #expect(runs[i - 1].end <= r.start) }
            }
        }
    }
    // The random backup/forget/rewrite/prune sequence with kills: MaintenanceSequenceTests.
}
