import CairnCore
import CairnCheck
import CairnRepository
import Foundation
import Testing

/// Resuming interrupted backups: packs a killed run stored are adopted from the upload journal
/// (not sent again, not read back), and files it had finished reading are not read again.
@Suite(.serialized) struct ResumeTests {
    struct Summary: Decodable { var bytes_read: UInt64; var bytes_stored: UInt64; var total_bytes: UInt64 }
    struct Out: Decodable { var summary: Summary }

    static func packs(_ repo: String) -> [String] {
        ((try? FileManager.default.subpathsOfDirectory(atPath: repo + "/data")) ?? []).filter { ($0 as NSString).lastPathComponent.count == 64 }
    }

    static func packBytes(_ repo: String) -> UInt64 {
        packs(repo).reduce(0) { $0 + UInt64(Fixtures.lstat(repo + "/data/" + $1).st_size) }
    }

    @Test func aBackupKilledHalfwayResumesWithoutSendingOrReadingAgain() throws {
        let tmp = TempDir()
        let repo = try CLITests.initRepo(tmp)   // 1 MiB packs
        let cache = tmp.sub("cache")
        let src = tmp.sub("src")
        for i in 0..<24 { Fixtures.write(src + "/f\(i)", Fixtures.random(1 << 20, seed: "resume-\(i)")) }
        // The process kills itself (SIGKILL) right after its 14th pack is stored and journalled:
        // an event, not a time, so the outcome does not depend on the machine's load. Every file
        // read before then is in the checkpoint; the ones whose blobs all reached those 14 packs
        // (at least 14 - readers of the 24 one-MiB files) are not read again.
        let killed = try CLITests.cairn(["backup", src], repo: repo, env: ["CAIRN_FAULT_KILL_AFTER_PACKS": "14"], cache: cache)
        #expect(killed.status == 9 || killed.status == 137 || killed.status == -9, "the backup was not killed: exit \(killed.status) \(killed.err)")
        #expect(Self.packs(repo).count >= 14)
        let before = Self.packBytes(repo)
        #expect(try CLITests.cairn(["unlock"], repo: repo, cache: cache).status == 0)

        let r = try CLITests.cairn(["--json", "backup", src], repo: repo, cache: cache)
        #expect(r.status == 0, "\(r.err)")
        let s = try JSONDecoder().decode(Out.self, from: Data(r.out.utf8)).summary
        let total = Self.packBytes(repo)
        // The resumed run sent what the killed one had not: at most one pack more.
        #expect(s.bytes_stored <= total - before + (2 << 20), "resumed run stored \(s.bytes_stored) of \(total), \(before) were there")
        #expect(Double(s.bytes_stored) <= 0.55 * Double(total), "resumed run stored \(s.bytes_stored) of \(total)")
        // Files the killed run had read (and whose blobs reached the store) were not read again.
        #expect(Double(s.bytes_read) <= 0.7 * Double(s.total_bytes), "read \(s.bytes_read) of \(s.total_bytes)")

        let check = try CLITests.cairn(["check", "--read-data"], repo: repo, cache: cache)
        #expect(check.status == 0, "\(check.out) \(check.err)")
        let out = tmp.sub("out")
        #expect(try CLITests.cairn(["restore", "latest", "--target", out], repo: repo, cache: cache).status == 0)
        for i in 0..<24 {
            let same = Fixtures.read(out + src + "/f\(i)") == Fixtures.read(src + "/f\(i)")
            #expect(same, "f\(i) differs")
        }
        // The checkpoint is gone once the snapshot is saved: a third run reads nothing new.
        let again = try CLITests.cairn(["--json", "backup", src], repo: repo, cache: cache)
        let s3 = try JSONDecoder().decode(Out.self, from: Data(again.out.utf8)).summary
        #expect(s3.bytes_stored < 1 << 20 && s3.bytes_read == 0)
    }

    @Test func journaledPacksAreAdoptedWithoutReadingThem() throws {
        let tmp = TempDir()
        let repo = try Fixtures.newRepository(tmp)
        try repo.attachCache(folder: tmp.sub("cache"))
        for i in 0..<50 { try repo.saveBlob(.data, Fixtures.random(8000, seed: "j\(i)")) }
        let packs = try repo.backend.list(.pack).count
        #expect(packs >= 2)
        // A second process opens the repository: no index lists the packs, the journal does.
        let fresh = try Fixtures.reopen(tmp)
        try fresh.attachCache(folder: tmp.sub("cache"))
        let adopted = try fresh.indexUnindexedPacks()
        #expect(adopted.fromJournal == packs && adopted.fromHeaders == 0 && adopted.damaged.isEmpty)
        // Adopted packs are indexed in the store now, and the journal forgot them.
        let third = try Fixtures.reopen(tmp)
        try third.attachCache(folder: tmp.sub("cache"))
        #expect(third.index.count == fresh.index.count && third.index.count >= 40)
        #expect(try third.indexUnindexedPacks().fromJournal == 0)
    }

    @Test func aJournaledPackTheStoreLostIsNotAdopted() throws {
        let tmp = TempDir()
        let repo = try Fixtures.newRepository(tmp)
        try repo.attachCache(folder: tmp.sub("cache"))
        for i in 0..<50 { try repo.saveBlob(.data, Fixtures.random(8000, seed: "lost\(i)")) }
        let names = try repo.backend.list(.pack).map(\.name)
        try repo.backend.delete(.pack, names[0])
        let fresh = try Fixtures.reopen(tmp)
        try fresh.attachCache(folder: tmp.sub("cache"))
        let adopted = try fresh.indexUnindexedPacks()
        #expect(adopted.fromJournal == names.count - 1)
        #expect(try Checker(repository: fresh).run(readData: true).healthy)
    }
}
