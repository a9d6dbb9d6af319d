import CairnCore
import CairnCrypto
import CairnRepository
import CairnStorage
import Foundation
import Testing

/// End-to-end tests of the built `cairn` binary: exit codes, interruption, streams.
@Suite(.serialized) struct CLITests {
    static var binary: String {
        for p in [".build/debug/cairn", ".build/release/cairn"] where FileManager.default.isExecutableFile(atPath: Fixtures.packageRoot + "/" + p) {
            return Fixtures.packageRoot + "/" + p
        }
        return Fixtures.packageRoot + "/.build/debug/cairn"
    }

    struct Run { var status: Int32; var out: String; var err: String }

    @discardableResult
    static func cairn(_ args: [String], repo: String, password: String = "pw", stdin: Data? = nil, env extra: [String: String] = [:],
                      cache: String? = nil) throws -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["-r", repo] + (cache.map { ["--cache-dir", $0] } ?? ["--no-cache"]) + ["-q"] + args
        var env = ProcessInfo.processInfo.environment
        env["CAIRN_PASSWORD"] = password
        env.merge(extra) { $1 }
        p.environment = env
        let out = Pipe(), err = Pipe(), inp = Pipe()
        p.standardOutput = out; p.standardError = err; p.standardInput = inp
        try p.run()
        // A command may fail before it reads all its input: EPIPE, not SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        if let stdin { try? inp.fileHandleForWriting.write(contentsOf: stdin) }
        try? inp.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, out: String(decoding: o, as: UTF8.self), err: String(decoding: e, as: UTF8.self))
    }

    static func initRepo(_ tmp: TempDir) throws -> String {
        let repo = tmp.sub("repo")
        let r = try cairn(["init", "--kdf-n", "1024", "--pack-size", "1"], repo: repo)
        #expect(r.status == 0, "\(r.err)")
        return repo
    }

    @Test func helpIsPrinted() throws {
        let help = try Self.cairn(["backup", "--help"], repo: "/nonexistent")
        #expect(help.status == 0)
        #expect(help.out.contains("USAGE: cairn backup"))
    }

    @Test func exitCodes() throws {
        let tmp = TempDir()
        #expect(try Self.cairn(["snapshots"], repo: tmp.sub("none")).status == 10)
        let repo = try Self.initRepo(tmp)
        let wrong = try Self.cairn(["snapshots"], repo: repo, password: "bad")
        #expect(wrong.status == 12)
        #expect(wrong.err.contains("wrong password"))
        #expect(try Self.cairn(["init"], repo: repo).status == 1)
        Fixtures.write(tmp.sub("src/ok"), Array("ok".utf8))
        let partial = try Self.cairn(["backup", tmp.sub("src"), tmp.sub("vanished")], repo: repo)
        #expect(partial.status == 3)
        #expect(partial.err.contains("vanished"))
        #expect(try Self.cairn(["check"], repo: repo).status == 0)
        #expect(try Self.cairn(["snapshots", "--json"], repo: repo).out.contains("\"tree\""))
    }

    @Test func aHeldExclusiveLockGivesExit11() throws {
        let tmp = TempDir()
        let repo = try Self.initRepo(tmp)
        let r = try Repository.open(backend: LocalBackend(path: repo), password: Array("pw".utf8))
        let lock = try r.acquireLock(exclusive: true, operation: "test")
        Fixtures.write(tmp.sub("src/f"), Array("x".utf8))
        let locked = try Self.cairn(["backup", tmp.sub("src")], repo: repo)
        #expect(locked.status == 11)
        #expect(locked.err.contains("locked"))
        lock.release()
        #expect(try Self.cairn(["backup", tmp.sub("src")], repo: repo).status == 0)
    }

    @Test func stdinAndCommandStreams() throws {
        let tmp = TempDir()
        let repo = try Self.initRepo(tmp)
        let data = Data(Fixtures.random(3_000_000, seed: "stdin"))
        #expect(try Self.cairn(["backup", "--stdin", "--stdin-filename", "img.raw", "--tag", "disk"], repo: repo, stdin: data).status == 0)
        let dumped = try Self.cairn(["dump", "latest", "img.raw"], repo: repo)
        #expect(dumped.status == 0)
        #expect(SHA256.hash(Array(dumped.out.utf8)) == SHA256.hash(Array(data)) || Data(dumped.out.utf8).count > 0)
        // Compare bytes exactly via a file.
        let d = Process(); d.executableURL = URL(fileURLWithPath: "/bin/sh")
        d.arguments = ["-c", "CAIRN_PASSWORD=pw '\(Self.binary)' -r '\(repo)' --no-cache dump latest img.raw > '\(tmp.sub("dump.raw"))'"]
        try d.run(); d.waitUntilExit()
        #expect(Fixtures.read(tmp.sub("dump.raw")) == Array(data))
        let ok = try Self.cairn(["backup", "--stdin-from-command", "--stdin-filename", "ls.txt", "--", "sh", "-c", "echo hello"], repo: repo)
        #expect(ok.status == 0)
        #expect(try Self.cairn(["dump", "latest", "ls.txt"], repo: repo).out == "hello\n")
        let failing = try Self.cairn(["backup", "--stdin-from-command", "--", "sh", "-c", "echo partial; exit 7"], repo: repo)
        #expect(failing.status == 1)
        #expect(failing.err.contains("status 7"))
        let snaps = try Self.cairn(["snapshots", "--json"], repo: repo).out
        #expect(snaps.components(separatedBy: "\"tree\"").count - 1 == 2)
    }

    @Test func killDashNineLeavesAHealthyRepositoryAndPacksAreReused() throws {
        let tmp = TempDir()
        let repo = try Self.initRepo(tmp)
        let data = Fixtures.random(6 << 20, seed: "kill")
        // The process kills itself (SIGKILL) right after its third pack is stored: an event,
        // not a polled time, while standard input is still being read.
        let killed = try Self.cairn(["backup", "--stdin", "--stdin-filename", "big"], repo: repo, stdin: Data(data),
                                    env: ["CAIRN_FAULT_KILL_AFTER_PACKS": "3"])
        #expect(killed.status == 9, "not killed: exit \(killed.status) \(killed.err)")
        let packs = { (try? FileManager.default.subpathsOfDirectory(atPath: repo + "/data").filter { $0.count > 60 && !$0.contains(".tmp-") }.count) ?? 0 }
        let written = packs()
        #expect(written >= 3)
        let check = try Self.cairn(["check", "--read-data"], repo: repo)
        #expect(check.status == 0, "\(check.out) \(check.err)")
        #expect(try Self.cairn(["unlock"], repo: repo).status == 0)   // the killed run's lock is stale (pid gone)
        let again = try Self.cairn(["backup", "--stdin", "--stdin-filename", "big", "--json"], repo: repo, stdin: Data(data))
        #expect(again.status == 0, "\(again.err)")
        struct Out: Decodable { struct S: Decodable { var bytes_added: UInt64 }; var summary: S }
        let summary = try JSONDecoder().decode(Out.self, from: Data(again.out.utf8)).summary
        // Everything in the packs written before the kill is reused, not stored again.
        #expect(summary.bytes_added < UInt64(data.count) - UInt64(written - 1) * 900_000)
        #expect(try Self.cairn(["check", "--read-data"], repo: repo).status == 0)
    }

    @Test func aFlippedByteIsNamedByCheck() throws {
        let tmp = TempDir()
        let repo = try Self.initRepo(tmp)
        Fixtures.write(tmp.sub("src/a"), Fixtures.random(100_000, seed: "a"))
        Fixtures.write(tmp.sub("src/b"), Fixtures.random(100_000, seed: "b"))
        #expect(try Self.cairn(["backup", tmp.sub("src/a")], repo: repo).status == 0)
        #expect(try Self.cairn(["backup", tmp.sub("src/b")], repo: repo).status == 0)
        let packFiles = try FileManager.default.subpathsOfDirectory(atPath: repo + "/data").filter { $0.count > 60 }
        // Find the data pack (the larger ones) of the first backup and flip a byte in it.
        let sized = packFiles.map { ($0, (try? FileManager.default.attributesOfItem(atPath: repo + "/data/" + $0)[.size] as? Int) ?? 0) }
        let target = sized.filter { $0.1 > 90_000 }.map(\.0).sorted()[0]
        var bytes = Fixtures.read(repo + "/data/" + target)!
        bytes[100] ^= 0x80
        Fixtures.write(repo + "/data/" + target, bytes)
        let check = try Self.cairn(["check", "--read-data"], repo: repo)
        #expect(check.status == 2)   // damaged
        let packName = String(target.split(separator: "/").last!)
        #expect(check.out.contains(packName))
        let damaged = check.out.contains(tmp.sub("src/a")) ? tmp.sub("src/a") : tmp.sub("src/b")
        #expect(check.out.contains(damaged))
        let intact = damaged.hasSuffix("/a") ? tmp.sub("src/b") : tmp.sub("src/a")
        let r = try Self.cairn(["restore", "latest", "--target", tmp.sub("out"), "--path", intact], repo: repo)
        #expect(r.status == 0 || damaged.hasSuffix("/b"))
        if r.status == 0 { #expect(Fixtures.read(tmp.sub("out") + intact) == Fixtures.read(intact)) }
    }

    @Test func keysAndPointInTimeSelection() throws {
        let tmp = TempDir()
        let repo = try Self.initRepo(tmp)
        Fixtures.write(tmp.sub("src/f"), Array("v1".utf8))
        #expect(try Self.cairn(["backup", tmp.sub("src"), "--time", "2026-01-01T10:00:00Z"], repo: repo).status == 0)
        Fixtures.write(tmp.sub("src/f"), Array("v2".utf8))
        #expect(try Self.cairn(["backup", tmp.sub("src"), "--time", "2026-01-02T10:00:00Z"], repo: repo).status == 0)
        #expect(try Self.cairn(["dump", "latest", tmp.sub("src/f"), "--before", "2026-01-01T12:00:00Z"], repo: repo).out == "v1")
        #expect(try Self.cairn(["dump", "latest", tmp.sub("src/f")], repo: repo).out == "v2")
        Fixtures.write(tmp.sub("newpw"), Array("second\n".utf8))
        #expect(try Self.cairn(["key", "add", "--kdf-n", "1024", "--new-password-file", tmp.sub("newpw")], repo: repo).status == 0)
        #expect(try Self.cairn(["snapshots"], repo: repo, password: "second").status == 0)
        let list = try Self.cairn(["key", "list", "--json"], repo: repo)
        #expect(list.out.components(separatedBy: "\"id\"").count - 1 == 2)
    }
}
