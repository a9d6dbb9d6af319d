import CairnCore
import CairnCrypto
import CairnCheck
import CairnTree
import CairnFormat
import CairnRepository
import CairnStorage
import Foundation
import Testing

/// check's data subsets and --snapshot, and repair snapshots --from.
@Suite struct RepairTests {
    /// A repository with two snapshots of different files (many small packs).
    static func twoSnapshots(_ tmp: TempDir) throws -> (Repository, ID, ID) {
        let repo = try Fixtures.newRepository(tmp)
        Fixtures.write(tmp.sub("a/one"), Fixtures.random(300_000, seed: "one"))
        Fixtures.write(tmp.sub("b/two"), Fixtures.random(300_000, seed: "two"))
        let s1 = try EngineTests.backup(repo, [tmp.sub("a")]).snapshotID!
        let s2 = try EngineTests.backup(repo, [tmp.sub("b")]).snapshotID!
        return (try Fixtures.reopen(tmp), s1, s2)
    }

    @Test func subsetParsing() throws {
        #expect(try CheckOptions.parseSubset("2/7") == .slice(n: 2, of: 7))
        #expect(try CheckOptions.parseSubset("10%") == .fraction(0.1))
        #expect(try CheckOptions.parseSubset("500M") == .bytes(500 << 20))
        #expect(try CheckOptions.parseSubset("2GiB") == .bytes(2 << 30))
        for bad in ["0/3", "4/3", "x/3", "0%", "101%", "-5M", "", "1.5.2G"] {
            #expect(throws: RepositoryError.self, "\(bad)") { try CheckOptions.parseSubset(bad) }
        }
    }

    @Test func slicesCoverEveryPackExactlyOnce() throws {
        let tmp = TempDir()
        let (repo, _, _) = try Self.twoSnapshots(tmp)
        let packs = try repo.backend.list(.pack).map { (ID(hex: $0.name)!, $0.size) }
        #expect(packs.count > 8)
        var seen: [ID: Int] = [:]
        for n in 1...5 {
            let report = try Checker(repository: repo).run(CheckOptions(readData: .slice(n: n, of: 5)))
            #expect(report.healthy)
            let again = Checker.choose(.slice(n: n, of: 5), packs: packs, random: SystemRandom())
            #expect(report.packsRead == again.count)   // deterministic: same slice both times
            for p in again { seen[p, default: 0] += 1 }
        }
        #expect(seen.count == packs.count && seen.values.allSatisfy { $0 == 1 })
        let tenth = Checker.choose(.fraction(0.1), packs: packs, random: SystemRandom())
        #expect(tenth.count == Int((Double(packs.count) * 0.1).rounded(.up)))
        let bytes = Checker.choose(.bytes(200_000), packs: packs, random: SystemRandom())
        #expect(bytes.reduce(UInt64(0)) { s, p in s + packs.first { $0.0 == p }!.1 } >= 200_000)
    }

    @Test func checkSnapshotReadsOnlyWhatItNeeds() throws {
        let tmp = TempDir()
        let (repo, s1, s2) = try Self.twoSnapshots(tmp)
        // Damage a data pack that only the second snapshot uses.
        var dataOf2: ID?
        try repo.walk(repo.loadSnapshot(s2).treeID!) { _, n in
            if n.type == .file, let c = n.chunks.first { dataOf2 = repo.lookup(.data, c)!.pack }
            return true
        }
        let victim = LocalBackend(path: tmp.sub("repo")).path(.pack, dataOf2!.hex)
        var bytes = Fixtures.read(victim)!
        bytes[10] ^= 1
        Fixtures.write(victim, bytes)
        let only1 = try Checker(repository: repo).run(CheckOptions(snapshots: [s1]))
        #expect(only1.healthy && only1.snapshots == 1 && only1.packsRead > 0)
        let only2 = try Checker(repository: repo).run(CheckOptions(snapshots: [s2]))
        #expect(!only2.healthy)
        #expect(only2.affected.contains { $0.path.hasSuffix("/b/two") })
        #expect(only2.packsRead < (try repo.backend.list(.pack).count))
    }

    @Test func repairSnapshotsTakesMissingBlobsFromACopy() throws {
        let tmp = TempDir()
        let (repo, _, s2) = try Self.twoSnapshots(tmp)
        try FileManager.default.copyItem(atPath: tmp.sub("repo"), toPath: tmp.sub("mirror"))
        // Lose a data pack of the second snapshot in the original.
        var pack: ID?
        try repo.walk(repo.loadSnapshot(s2).treeID!) { _, n in
            if n.type == .file, let c = n.chunks.last { pack = repo.lookup(.data, c)!.pack }
            return true
        }
        try repo.backend.delete(.pack, pack!.hex)
        let damaged = try Fixtures.reopen(tmp)
        #expect(!(try Checker(repository: damaged).run(readData: false)).healthy)
        _ = try Repairer(repository: damaged).repairIndex()
        let mirror = try Repository.open(backend: LocalBackend(path: tmp.sub("mirror")), password: Fixtures.password)
        try mirror.loadIndex()
        let dry = try Repairer(repository: damaged).repairSnapshots(from: mirror, dryRun: true)
        #expect(dry.fetched > 0 && dry.rewritten.isEmpty)
        let r = try Repairer(repository: damaged).repairSnapshots(from: mirror)
        #expect(r.fetched > 0 && r.rewritten.isEmpty && r.intact == 2)
        let after = try Checker(repository: try Fixtures.reopen(tmp)).run(readData: true)
        #expect(after.healthy, "\(after.damage)")
        let out = tmp.sub("out")
        _ = try EngineTests.restore(try Fixtures.reopen(tmp), s2, path: "", to: out)
        let same = Fixtures.read(out + tmp.sub("b/two")) == Fixtures.read(tmp.sub("b/two"))
        #expect(same)
        // A repository with another blob-ID key cannot stand in.
        let other = TempDir()
        let stranger = try Fixtures.newRepository(other)
        #expect(throws: RepositoryError.self) { try Repairer(repository: damaged).repairSnapshots(from: stranger) }
    }
}
