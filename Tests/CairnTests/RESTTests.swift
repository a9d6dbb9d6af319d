import CairnCore
import CairnREST
import CairnStorage
import Foundation
import Testing

/// A real `rclone serve restic` on loopback (rclone comes from Debian: scripts/deps.sh).
final class RcloneServer: @unchecked Sendable {
    let tmp = TempDir()
    var process = Process()
    var port = 0
    let user = "cairn", pass = "s3cret/:@x"

    init() throws {
        guard let rclone = ["/usr/bin/rclone", "/usr/local/bin/rclone"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw StorageError.io("rclone is not installed: run scripts/deps.sh (apt-get install rclone)")
        }
        try FileManager.default.createDirectory(atPath: tmp.sub("store"), withIntermediateDirectories: true)
        // A random port may be taken (rclone then exits): try another. Ready when it accepts
        // connections; a loaded machine may take a while to start it.
        for _ in 0..<5 {
            port = (try? MotoServer.freePort()) ?? Int.random(in: 20_000...40_000)
            process = Process()
            process.executableURL = URL(fileURLWithPath: rclone)
            process.arguments = ["serve", "restic", "--addr", "127.0.0.1:\(port)", "--user", user, "--pass", pass, tmp.sub("store")]
            var env = ProcessInfo.processInfo.environment
            env["RCLONE_CONFIG"] = tmp.sub("rclone.conf")
            process.environment = env
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
            for _ in 0..<600 where process.isRunning {
                if Self.accepts(port: port) { return }
                usleep(100_000)
            }
            if process.isRunning { process.terminate(); process.waitUntilExit() }
        }
        throw StorageError.io("rclone serve restic did not start (5 ports tried)")
    }

    deinit { process.terminate(); process.waitUntilExit() }

    static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    func url(_ path: String, password: String? = nil) -> String {
        let p = (password ?? pass).addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        return "rest:http://\(user):\(p)@127.0.0.1:\(port)/\(path)/"
    }
}

@Suite(.serialized) struct RESTTests {
    @Test func backupRestoreAndCheckThroughRclone() throws {
        let server = try RcloneServer()
        let tmp = TempDir()
        let repo = server.url("repo")
        Fixtures.write(tmp.sub("src/big"), Fixtures.random(3_000_000, seed: "rest-big"))
        Fixtures.write(tmp.sub("src/dir/small"), Fixtures.random(5_000, seed: "rest-small"))
        var r = try CLITests.cairn(["init", "--kdf-n", "1024", "--pack-size", "1"], repo: repo)
        #expect(r.status == 0, "\(r.err)")
        r = try CLITests.cairn(["init", "--kdf-n", "1024"], repo: repo)
        #expect(r.status != 0)   // a second init refuses
        r = try CLITests.cairn(["backup", tmp.sub("src")], repo: repo)
        #expect(r.status == 0, "\(r.err)")
        r = try CLITests.cairn(["check", "--read-data"], repo: repo)
        #expect(r.status == 0, "\(r.out) \(r.err)")
        r = try CLITests.cairn(["restore", "latest", "--target", tmp.sub("out")], repo: repo)
        #expect(r.status == 0, "\(r.err)")
        for f in ["big", "dir/small"] {
            let same = Fixtures.read(tmp.sub("out") + tmp.sub("src/" + f)) == Fixtures.read(tmp.sub("src/" + f))
            #expect(same, "\(f)")
        }
        // The store holds the layout restic's REST servers expect.
        let store = server.tmp.sub("store/repo")
        #expect(FileManager.default.fileExists(atPath: store + "/config"))
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: store + "/data")) ?? []).count > 0)
    }

    @Test func wrongCredentialsFailClearlyAndAtOnce() throws {
        let server = try RcloneServer()
        let start = Date()
        let r = try CLITests.cairn(["init", "--kdf-n", "1024"], repo: server.url("repo", password: "wrong"))
        #expect(r.status != 0)
        #expect(r.err.contains("HTTP 401") && r.err.contains("password"), "\(r.err)")
        #expect(Date().timeIntervalSince(start) < 10)   // no retry storm
        #expect(!r.err.contains("wrong@"))   // credentials are not printed
    }

    @Test func rangesListingsAndMissingObjects() throws {
        let server = try RcloneServer()
        let b = try RESTBackend(url: String(server.url("raw").dropFirst(5)))
        try b.create()
        let bytes = Fixtures.random(100_000, seed: "range")
        try b.write(.pack, String(repeating: "ab", count: 32), bytes)
        #expect(try b.read(.pack, String(repeating: "ab", count: 32), offset: 1000, length: 5000) == Array(bytes[1000..<6000]))
        #expect(try b.read(.pack, String(repeating: "ab", count: 32), offset: 99_000, length: nil) == Array(bytes[99_000...]))
        #expect(try b.stat(.pack, String(repeating: "ab", count: 32)).size == 100_000)
        #expect(try b.list(.pack).map(\.name) == [String(repeating: "ab", count: 32)])
        #expect(throws: StorageError.self) { try b.read(.snapshot, String(repeating: "cd", count: 32)) }
        try b.delete(.snapshot, String(repeating: "cd", count: 32))   // missing: not an error
        try b.delete(.pack, String(repeating: "ab", count: 32))
        #expect(try b.list(.pack).isEmpty)
    }
}
