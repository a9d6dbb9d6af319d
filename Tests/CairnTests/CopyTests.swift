import CairnCore
import Foundation
import Testing

/// `cairn copy` between repositories: only missing blobs are sent, copied snapshots are
/// skipped next time, and both key set-ups (shared ID key, different keys) restore bit-exact.
@Suite(.serialized) struct CopyTests {
    struct Out: Decodable { var copied: Int; var skipped: Int; var blobs_added: Int; var bytes_stored: UInt64; var blobs_read: Int }

    func copy(_ src: String, into dst: String, cache: String, _ extra: [String] = []) throws -> Out {
        let r = try CLITests.cairn(["--json", "copy", "--from-repo", src] + extra, repo: dst,
                                   env: ["CAIRN_FROM_PASSWORD": "pw-src"], cache: cache)
        #expect(r.status == 0, "\(r.err)")
        return try JSONDecoder().decode(Out.self, from: Data(r.out.utf8))
    }

    @Test(arguments: [false, true]) func copiesSendOnlyWhatIsMissing(sharedKeys: Bool) throws {
        let tmp = TempDir()
        let cache = tmp.sub("cache")
        let src = tmp.sub("src-repo"), dst = tmp.sub("dst-repo")
        #expect(try CLITests.cairn(["init", "--kdf-n", "1024", "--pack-size", "1"], repo: src, password: "pw-src").status == 0)
        let initDst = try CLITests.cairn(["init", "--kdf-n", "1024", "--pack-size", "1"]
                                         + (sharedKeys ? ["--copy-chunker-params", "--from-repo", src] : []),
                                         repo: dst, env: ["CAIRN_FROM_PASSWORD": "pw-src"])
        #expect(initDst.status == 0, "\(initDst.err)")
        let files = tmp.sub("files")
        for i in 0..<4 { Fixtures.write(files + "/f\(i)", Fixtures.random(600_000, seed: "copy-\(i)")) }
        #expect(try CLITests.cairn(["backup", files], repo: src, password: "pw-src").status == 0)

        let first = try copy(src, into: dst, cache: cache)
        #expect(first.copied == 1 && first.skipped == 0)
        #expect(first.bytes_stored > 2_400_000)

        // A second snapshot changes one file: the copy sends about that file only.
        Fixtures.write(files + "/f0", Fixtures.random(600_000, seed: "copy-changed"))
        #expect(try CLITests.cairn(["backup", files], repo: src, password: "pw-src").status == 0)
        let second = try copy(src, into: dst, cache: cache)
        #expect(second.copied == 1 && second.skipped == 1)
        #expect(second.bytes_stored < 1_000_000, "sent \(second.bytes_stored)")
        // Shared keys: unchanged blobs are not even read from the source; different keys:
        // the journal remembers what was copied, so they are not read again either.
        #expect(second.blobs_read < first.blobs_read, "read \(second.blobs_read) of \(first.blobs_read)")

        let third = try copy(src, into: dst, cache: cache)
        #expect(third.copied == 0 && third.skipped == 2 && third.bytes_stored == 0)

        let check = try CLITests.cairn(["check", "--read-data"], repo: dst)
        #expect(check.status == 0, "\(check.out) \(check.err)")
        #expect(try CLITests.cairn(["restore", "latest", "--target", tmp.sub("out")], repo: dst).status == 0)
        for i in 0..<4 {
            let same = Fixtures.read(tmp.sub("out") + files + "/f\(i)") == Fixtures.read(files + "/f\(i)")
            #expect(same, "f\(i)")
        }
    }

    @Test func aCopyKilledHalfwayResumes() throws {
        let tmp = TempDir()
        let cache = tmp.sub("cache")
        let src = tmp.sub("src-repo"), dst = tmp.sub("dst-repo")
        #expect(try CLITests.cairn(["init", "--kdf-n", "1024", "--pack-size", "1"], repo: src, password: "pw-src").status == 0)
        #expect(try CLITests.cairn(["init", "--kdf-n", "1024", "--pack-size", "1"], repo: dst).status == 0)
        let files = tmp.sub("files")
        for i in 0..<16 { Fixtures.write(files + "/f\(i)", Fixtures.random(1 << 20, seed: "copy-kill-\(i)")) }
        #expect(try CLITests.cairn(["backup", files], repo: src, password: "pw-src").status == 0)
        setenv("CAIRN_FROM_PASSWORD", "pw-src", 1)
        defer { unsetenv("CAIRN_FROM_PASSWORD") }
        // Killed (SIGKILL, by itself) right after its 8th pack is stored: an event, not a time.
        let killed = try CLITests.cairn(["copy", "--from-repo", src], repo: dst, env: ["CAIRN_FAULT_KILL_AFTER_PACKS": "8"], cache: cache)
        #expect(killed.status == 9, "the copy was not killed: exit \(killed.status) \(killed.err)")
        let before = ResumeTests.packBytes(dst)
        #expect(try CLITests.cairn(["unlock"], repo: dst, cache: cache).status == 0)
        let again = try copy(src, into: dst, cache: cache)
        #expect(again.copied == 1)
        let total = ResumeTests.packBytes(dst)
        #expect(again.bytes_stored <= total - before + (2 << 20), "resumed copy stored \(again.bytes_stored); \(before) of \(total) were there")
        #expect(Double(again.bytes_stored) <= 0.6 * Double(total), "resumed copy stored \(again.bytes_stored) of \(total)")
        let check = try CLITests.cairn(["check", "--read-data"], repo: dst)
        #expect(check.status == 0, "\(check.out) \(check.err)")
    }

    @Test func copyRefusesTheSameRepository() throws {
        let tmp = TempDir()
        let repo = try CLITests.initRepo(tmp)
        let r = try CLITests.cairn(["copy", "--from-repo", repo], repo: repo, env: ["CAIRN_FROM_PASSWORD": "pw"])
        #expect(r.status != 0 && r.err.contains("same repository"), "\(r.err)")
    }
}
