import CairnCore
import CairnSFTP
import CairnStorage
import Foundation
import Testing

/// A private OpenSSH sshd on loopback (key-only, its own host key and config; openssh-server
/// comes from Debian via scripts/deps.sh --test).
final class SSHServer: @unchecked Sendable {
    let tmp = TempDir()
    var pid: pid_t = 0
    /// A port the kernel just handed out (a random one could be taken; sshd would then exit).
    let port = (try? MotoServer.freePort()) ?? Int.random(in: 40_001...60_000)
    let user = ProcessInfo.processInfo.environment["USER"] ?? "root"
    var command: String {
        "ssh -F /dev/null -p \(port) -i \(tmp.sub("client")) -o IdentitiesOnly=yes -o BatchMode=yes"
            + " -o UserKnownHostsFile=\(tmp.sub("known_hosts")) -o StrictHostKeyChecking=yes -o LogLevel=ERROR \(user)@127.0.0.1 -s sftp"
    }

    init() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd") else {
            throw StorageError.io("sshd is not installed: run scripts/deps.sh --test (apt-get install openssh-server)")
        }
        try? FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
        for k in ["host", "client"] { try Self.run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", tmp.sub(k)]) }
        try FileManager.default.copyItem(atPath: tmp.sub("client.pub"), toPath: tmp.sub("authorized_keys"))
        let hostKey = try String(contentsOfFile: tmp.sub("host.pub"), encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
        try "[127.0.0.1]:\(port) \(hostKey)\n".write(toFile: tmp.sub("known_hosts"), atomically: true, encoding: .utf8)
        try """
        Port \(port)
        ListenAddress 127.0.0.1
        HostKey \(tmp.sub("host"))
        PidFile \(tmp.sub("sshd.pid"))
        AuthorizedKeysFile \(tmp.sub("authorized_keys"))
        AllowUsers \(user)
        PubkeyAuthentication yes
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        PermitRootLogin prohibit-password
        UsePAM no
        StrictModes no
        Subsystem sftp internal-sftp

        """.write(toFile: tmp.sub("sshd_config"), atomically: true, encoding: .utf8)
        // Not Foundation's Process: with sshd as its child, Process stopped reaping the cairn
        // children the tests start (they stayed zombies and waitUntilExit never returned).
        let args = ["/usr/sbin/sshd", "-D", "-e", "-f", tmp.sub("sshd_config")]
        let cargs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for p in cargs { free(p) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        guard posix_spawn(&pid, args[0], &actions, nil, cargs, environ) == 0 else { throw StorageError.io("cannot start sshd") }
        // Ready when it accepts connections; a loaded machine may take a while.
        for _ in 0..<600 {
            if RcloneServer.accepts(port: port) { return }
            usleep(100_000)
        }
        throw StorageError.io("sshd did not start on port \(port)")
    }

    deinit {
        kill(pid, SIGTERM)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }

    static func run(_ tool: String, _ args: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw StorageError.io("\(tool) failed") }
    }
}

@Suite(.serialized) struct SFTPTests {
    @Test func backupRestoreAndCheckOverSFTP() throws {
        let server = try SSHServer()
        let tmp = TempDir()
        let repo = "sftp:\(server.user)@127.0.0.1:\(server.port):\(server.tmp.sub("store/repo"))"
        let env = ["CAIRN_SFTP_COMMAND": server.command]
        Fixtures.write(tmp.sub("src/big"), Fixtures.random(3_000_000, seed: "sftp-big"))
        Fixtures.write(tmp.sub("src/dir/small"), Fixtures.random(5_000, seed: "sftp-small"))
        try FileManager.default.createDirectory(atPath: server.tmp.sub("store"), withIntermediateDirectories: true)
        var r = try CLITests.cairn(["init", "--kdf-n", "1024", "--pack-size", "1"], repo: repo, env: env)
        #expect(r.status == 0, "\(r.err)")
        r = try CLITests.cairn(["backup", tmp.sub("src")], repo: repo, env: env)
        #expect(r.status == 0, "\(r.err)")
        r = try CLITests.cairn(["check", "--read-data"], repo: repo, env: env)
        #expect(r.status == 0, "\(r.out) \(r.err)")
        r = try CLITests.cairn(["restore", "latest", "--target", tmp.sub("out")], repo: repo, env: env)
        #expect(r.status == 0, "\(r.err)")
        for f in ["big", "dir/small"] {
            let same = Fixtures.read(tmp.sub("out") + tmp.sub("src/" + f)) == Fixtures.read(tmp.sub("src/" + f))
            #expect(same, "\(f)")
        }
        // The same layout as a local repository: it opens as one.
        r = try CLITests.cairn(["check"], repo: server.tmp.sub("store/repo"))
        #expect(r.status == 0, "\(r.out) \(r.err)")
    }

    @Test func storeOperations() throws {
        let server = try SSHServer()
        let b = try SFTPBackend(location: "\(server.user)@127.0.0.1:\(server.port):\(server.tmp.sub("raw"))", command: server.command)
        try b.create()
        try b.write(.config, "config", [1, 2, 3])
        #expect(throws: StorageError.self) { try b.create() }   // a repository is there now
        #expect(try b.read(.config, "config") == [1, 2, 3])
        let name = String(repeating: "ab", count: 32)
        let bytes = Fixtures.random(300_000, seed: "sftp-range")
        try b.write(.pack, name, bytes)
        #expect(try b.read(.pack, name) == bytes)
        #expect(try b.read(.pack, name, offset: 1000, length: 70_000) == Array(bytes[1000..<71_000]))
        #expect(try b.read(.pack, name, offset: 299_000, length: nil) == Array(bytes[299_000...]))
        #expect(try b.stat(.pack, name).size == 300_000)
        #expect(try b.list(.pack).map(\.name) == [name])
        try b.write(.pack, name, bytes)   // same name again: replaced atomically
        #expect(throws: StorageError.self) { try b.read(.snapshot, name) }
        try b.delete(.snapshot, name)   // missing: fine
        try b.delete(.pack, name)
        #expect(try b.list(.pack).isEmpty)
        // Temporaries a killed write left: old ones are deleted, fresh ones (a write in
        // progress) are kept; neither is ever listed.
        let stale = server.tmp.sub("raw/data/ab/.tmp-stale"), fresh = server.tmp.sub("raw/index/.tmp-fresh")
        Fixtures.write(stale, [1]); Fixtures.write(fresh, [2])
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -7200)], ofItemAtPath: stale)
        #expect(try b.list(.pack).isEmpty && b.list(.index).isEmpty)
        #expect(b.removeStaleTemporaries(olderThan: 3600) == 1)
        #expect(!FileManager.default.fileExists(atPath: stale) && FileManager.default.fileExists(atPath: fresh))
        // A wrong key fails clearly.
        let bad = try SFTPBackend(location: "x@127.0.0.1:\(server.port):/nowhere",
                                  command: server.command.replacingOccurrences(of: "\(server.user)@", with: "nobody-here@"))
        #expect(throws: StorageError.self) { try bad.list(.snapshot) }
        #expect(SFTPBackendParse.ok("me@host:2222:/srv/repo") && SFTPBackendParse.ok("//me@host:2222/srv/repo") && !SFTPBackendParse.ok("host"))
    }
}

enum SFTPBackendParse {
    static func ok(_ s: String) -> Bool { (try? SFTPBackend(location: s)) != nil }
}
