import CairnCore
import CairnCrypto
import CairnStorage
import Foundation
import Testing

typealias ToolRun = CLITests.Run

extension CLITests.Run {
    /// A short-lived tool run to completion: standard output and error go to files (no pipe
    /// can fill up), standard input is /dev/null.
    static func run(_ tool: String, _ args: [String], env extra: [String: String] = [:], in tmp: TempDir) throws -> ToolRun {
        guard FileManager.default.isExecutableFile(atPath: tool) else {
            throw StorageError.io("\(tool) is not installed: run scripts/deps.sh --test")
        }
        let n = UUID().uuidString
        let outPath = tmp.sub("out-\(n)"), errPath = tmp.sub("err-\(n)")
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env.merge(extra) { $1 }
        p.environment = env
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle(forWritingAtPath: outPath)
        p.standardError = FileHandle(forWritingAtPath: errPath)
        try p.run()
        p.waitUntilExit()
        return ToolRun(status: p.terminationStatus,
                       out: String(decoding: Fixtures.read(outPath) ?? [], as: UTF8.self),
                       err: String(decoding: Fixtures.read(errPath) ?? [], as: UTF8.self))
    }
}

/// A real `cairn serve` on a free loopback port, started with posix_spawn (not Foundation's
/// Process: see SSHServer), its output in `log`, killed when released.
final class CairnServe: @unchecked Sendable {
    let tmp = TempDir()
    var pid: pid_t = 0
    let port: Int
    let user = "alice", pass = "pa:ss/wörd"
    let https: Bool
    var store: String { tmp.sub("store") }
    var log: String { String(decoding: Fixtures.read(tmp.sub("serve.log")) ?? [], as: UTF8.self) }

    /// `auth`: make an htpasswd file with `cairn serve --add-user` and use it.
    init(_ extra: [String] = [], auth: Bool = true, https: Bool = false) throws {
        self.https = https
        port = Self.freePort()
        var args = [CLITests.binary, "serve", "--path", store, "--listen", "127.0.0.1:\(port)", "--verbose"] + extra
        if auth {
            let add = try ToolRun.run(CLITests.binary, ["serve", "--htpasswd", tmp.sub("htpasswd"), "--add-user", user],
                                      env: ["CAIRN_SERVE_PASSWORD": pass], in: tmp)
            guard add.status == 0 else { throw StorageError.io("cairn serve --add-user failed: \(add.err)") }
            args += ["--htpasswd", tmp.sub("htpasswd")]
        } else {
            args.append("--no-auth")
        }
        let cargs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for p in cargs { free(p) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, tmp.sub("serve.log"), O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // The test runner's threads block most signals and a spawned child inherits that mask:
        // start with none blocked and default actions, so SIGTERM ends the server.
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t(), defaults = sigset_t()
        sigemptyset(&none)
        sigemptyset(&defaults)
        for s in [SIGTERM, SIGINT, SIGPIPE] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigmask(&attr, &none)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        guard posix_spawn(&pid, args[0], &actions, &attr, cargs, environ) == 0 else { throw StorageError.io("cannot start \(args[0])") }
        for _ in 0..<200 {
            if RcloneServer.accepts(port: port) { return }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { pid = 0; throw StorageError.io("cairn serve exited at start: \(log)") }
            usleep(50_000)
        }
        throw StorageError.io("cairn serve did not start on port \(port): \(log)")
    }

    deinit {
        guard pid > 0 else { return }
        kill(pid, SIGTERM)
        var status: Int32 = 0
        // Never hang the suite on a server that ignores SIGTERM: SIGKILL after 10 s.
        for _ in 0..<200 {
            if waitpid(pid, &status, WNOHANG) == pid { return }
            usleep(50_000)
        }
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
    }

    /// A port nobody listens on now (the kernel's pick for port 0).
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    var base: String { (https ? "https" : "http") + "://127.0.0.1:\(port)/" }

    /// `rest:` URL for cairn and restic (the password percent-encoded).
    func url(password: String? = nil) -> String {
        let p = (password ?? pass).addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        return "rest:" + base.replacingOccurrences(of: "://", with: "://\(user):\(p)@")
    }

    /// One request with curl: the status code (and body, in `out` before the code line).
    func curl(_ method: String, _ path: String, body: [UInt8]? = nil, headers: [String] = [], auth: Bool = true,
              extra: [String] = []) throws -> (status: Int, body: String, run: ToolRun) {
        var args = ["-s", "-S", "-X", method, "-o", tmp.sub("curl-body"), "-w", "%{http_code}", "-D", tmp.sub("curl-headers")]
        if method == "HEAD" { args = ["-s", "-S", "-I", "-o", tmp.sub("curl-body"), "-w", "%{http_code}", "-D", tmp.sub("curl-headers")] }
        if auth { args += ["-u", "\(user):\(pass)"] }
        if let body {
            Fixtures.write(tmp.sub("curl-upload"), body)
            args += ["--data-binary", "@" + tmp.sub("curl-upload"), "-H", "Content-Type: application/octet-stream"]
        }
        for h in headers { args += ["-H", h] }
        let r = try ToolRun.run("/usr/bin/curl", args + extra + [base + path], in: tmp)
        return (Int(r.out) ?? -1, String(decoding: Fixtures.read(tmp.sub("curl-body")) ?? [], as: UTF8.self), r)
    }

    var lastHeaders: String { String(decoding: Fixtures.read(tmp.sub("curl-headers")) ?? [], as: UTF8.self) }

    /// Files under the store's data/ (packs), by name.
    func packs() -> [String] {
        ((try? FileManager.default.subpathsOfDirectory(atPath: store + "/data")) ?? [])
            .filter { $0.count == 67 && !$0.contains(".tmp-") }.map { String($0.suffix(64)) }
    }

    func objects(_ folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: store + "/" + folder)) ?? []).filter { !$0.hasPrefix(".") }
    }
}

enum Restic {
    static let binary = "/usr/bin/restic"

    /// restic against a server, with its cache in `tmp`.
    /// With `timeout`, coreutils' timeout ends it after that many seconds (status 124).
    static func run(_ args: [String], repo: String, tmp: TempDir, password: String = "restic pw", timeout: Int? = nil) throws -> ToolRun {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw StorageError.io("restic is not installed at \(binary): run scripts/deps.sh --test (apt-get install restic)")
        }
        let argv = [binary, "-r", repo, "--cache-dir", tmp.sub("restic-cache")] + args
        let env = ["RESTIC_PASSWORD": password, "HOME": tmp.path]
        if let timeout { return try ToolRun.run("/usr/bin/timeout", [String(timeout)] + argv, env: env, in: tmp) }
        return try ToolRun.run(binary, Array(argv.dropFirst()), env: env, in: tmp)
    }
}

@Suite(.serialized) struct ServeTests {
    static func sourceTree(_ tmp: TempDir, seed: String) {
        Fixtures.write(tmp.sub("src/big"), Fixtures.random(3_000_000, seed: seed + "-big"))
        Fixtures.write(tmp.sub("src/dir/small"), Fixtures.random(5_000, seed: seed + "-small"))
        Fixtures.write(tmp.sub("src/dir/empty"), [])
    }

    static func expectSameTree(_ tmp: TempDir, restored: String) {
        for f in ["big", "dir/small", "dir/empty"] {
            let original = Fixtures.read(tmp.sub("src/" + f))
            #expect(original != nil)
            #expect(Fixtures.read(restored + tmp.sub("src/" + f)) == original, "\(f) differs after restore")
        }
    }

    @Test func cairnBackupRestoreAndCheckThroughServe() throws {
        let server = try CairnServe()
        let tmp = TempDir()
        Self.sourceTree(tmp, seed: "serve")
        let repo = server.url()
        var r = try CLITests.cairn(["init", "--kdf-n", "1024", "--pack-size", "1"], repo: repo)
        #expect(r.status == 0, "\(r.err)\n\(server.log)")
        #expect(try CLITests.cairn(["init", "--kdf-n", "1024"], repo: repo).status != 0)   // a second init refuses
        r = try CLITests.cairn(["backup", tmp.sub("src")], repo: repo)
        #expect(r.status == 0, "\(r.err)")
        r = try CLITests.cairn(["check", "--read-data"], repo: repo)
        #expect(r.status == 0, "\(r.out) \(r.err)")
        r = try CLITests.cairn(["restore", "latest", "--target", tmp.sub("out")], repo: repo)
        #expect(r.status == 0, "\(r.err)")
        Self.expectSameTree(tmp, restored: tmp.sub("out"))
        // The objects are files of the local layout, each named by its SHA-256.
        #expect(FileManager.default.fileExists(atPath: server.store + "/config"))
        let packs = server.packs()
        #expect(packs.count >= 2)
        for p in packs {
            let bytes = Fixtures.read(server.store + "/data/" + p.prefix(2) + "/" + p) ?? []
            #expect(SHA256.hash(bytes).hex == p)
        }
        #expect(server.objects("snapshots").count == 1)
        #expect(server.objects("locks").isEmpty)   // released through DELETE
        // The same folder opens as a local repository.
        #expect(try CLITests.cairn(["snapshots"], repo: server.store).status == 0)
        #expect(server.log.contains("POST /data/"), "--verbose logs requests: \(server.log)")
    }

    @Test func resticBackupRestoreAndCheckThroughServe() throws {
        let server = try CairnServe()
        let tmp = TempDir()
        Self.sourceTree(tmp, seed: "restic")
        let repo = server.url()
        var r = try Restic.run(["init"], repo: repo, tmp: tmp)
        #expect(r.status == 0, "restic init: \(r.err)\n\(server.log)")
        r = try Restic.run(["backup", tmp.sub("src")], repo: repo, tmp: tmp)
        #expect(r.status == 0, "restic backup: \(r.err)")
        r = try Restic.run(["restore", "latest", "--target", tmp.sub("out")], repo: repo, tmp: tmp)
        #expect(r.status == 0, "restic restore: \(r.err)")
        Self.expectSameTree(tmp, restored: tmp.sub("out"))
        r = try Restic.run(["check", "--read-data"], repo: repo, tmp: tmp)
        #expect(r.status == 0, "restic check: \(r.out) \(r.err)")
        #expect(r.out.contains("no errors were found"), "\(r.out)")
        r = try Restic.run(["snapshots", "--json"], repo: repo, tmp: tmp)
        #expect(r.status == 0 && r.out.contains("\"short_id\""), "\(r.out) \(r.err)")
        #expect(server.packs().count >= 1)
        #expect(server.objects("keys").count == 1)
        // restic with the wrong password is refused by the server, not by the key.
        let wrong = try ToolRun.run(Restic.binary, ["-r", server.url(password: "nope"), "--no-cache", "snapshots"],
                                    env: ["RESTIC_PASSWORD": "restic pw"], in: tmp)
        #expect(wrong.status != 0)
    }

    @Test func appendOnlyRefusesDeletesAndOverwrites() throws {
        let server = try CairnServe(["--append-only"])
        let tmp = TempDir()
        Self.sourceTree(tmp, seed: "append")
        let repo = server.url()
        var r = try CLITests.cairn(["init", "--kdf-n", "1024", "--pack-size", "1"], repo: repo)
        #expect(r.status == 0, "\(r.err)\n\(server.log)")
        r = try CLITests.cairn(["backup", tmp.sub("src")], repo: repo)
        #expect(r.status == 0, "backup through an append-only server (its lock is deleted): \(r.err)")
        #expect(server.objects("locks").isEmpty)

        let pack = try #require(server.packs().first)
        let packPath = server.store + "/data/" + pack.prefix(2) + "/" + pack
        let packBytes = Fixtures.read(packPath)
        var c = try server.curl("DELETE", "data/" + pack)
        #expect(c.status == 403, "\(c.run.err)")
        #expect(Fixtures.read(packPath) == packBytes ? true : false, "the pack changed")
        let snapshot = try #require(server.objects("snapshots").first)
        c = try server.curl("DELETE", "snapshots/" + snapshot)
        #expect(c.status == 403)
        #expect(FileManager.default.fileExists(atPath: server.store + "/snapshots/" + snapshot))
        c = try server.curl("DELETE", "config")
        #expect(c.status == 403)
        #expect(FileManager.default.fileExists(atPath: server.store + "/config"))

        // Overwrites are refused; the object's own bytes again (a retried upload whose reply
        // was lost) are accepted without writing. The file is unchanged either way.
        let inode = Fixtures.lstat(packPath).st_ino
        c = try server.curl("POST", "data/" + pack, body: Array("other".utf8))
        #expect(c.status == 403)
        c = try server.curl("POST", "data/" + pack, body: packBytes ?? [])
        #expect(c.status == 200)
        #expect(Fixtures.lstat(packPath).st_ino == inode, "the pack was written again")
        #expect(Fixtures.read(packPath) == packBytes ? true : false, "the pack changed")
        let config = Fixtures.read(server.store + "/config")
        c = try server.curl("POST", "config", body: Array("replaced".utf8))
        #expect(c.status == 403)
        #expect(Fixtures.read(server.store + "/config") == config)

        // Locks can come and go.
        let lock = Array("a lock".utf8)
        let lockName = SHA256.hash(lock).hex
        c = try server.curl("POST", "locks/" + lockName, body: lock)
        #expect(c.status == 200)
        #expect(server.objects("locks") == [lockName])
        c = try server.curl("DELETE", "locks/" + lockName)
        #expect(c.status == 200)
        #expect(server.objects("locks").isEmpty)

        // cairn's own check still works; restic forget fails on an append-only restic repository.
        #expect(try CLITests.cairn(["check"], repo: repo).status == 0)
        let resticServer = try CairnServe(["--append-only"])
        let rrepo = resticServer.url()
        r = try Restic.run(["init"], repo: rrepo, tmp: tmp)
        #expect(r.status == 0, "\(r.err)")
        r = try Restic.run(["backup", tmp.sub("src")], repo: rrepo, tmp: tmp)
        #expect(r.status == 0, "\(r.err)")
        let snapshots = resticServer.objects("snapshots")
        #expect(snapshots.count == 1)
        let snapshot0 = try #require(snapshots.first)
        // restic 0.14 retries the refused DELETE for minutes: give it a few seconds.
        r = try Restic.run(["forget", snapshot0], repo: rrepo, tmp: tmp, timeout: 8)
        #expect(r.status != 0, "restic forget must fail against --append-only: \(r.out)")
        #expect(r.err.contains("403"), "\(r.err)")
        #expect(resticServer.objects("snapshots") == snapshots)
        #expect(resticServer.log.contains("DELETE /snapshots/\(snapshot0) 403"), "\(resticServer.log)")
        r = try Restic.run(["unlock"], repo: rrepo, tmp: tmp)   // locks may be deleted
        #expect(r.status == 0, "\(r.err)")
        #expect(resticServer.objects("locks").isEmpty)
        r = try Restic.run(["check"], repo: rrepo, tmp: tmp)
        #expect(r.status == 0, "\(r.out) \(r.err)")
    }

    @Test func uploadsMustHashToTheirNameAndProtocolDetails() throws {
        let server = try CairnServe()
        var c = try server.curl("GET", "config")
        #expect(c.status == 404)
        c = try server.curl("POST", "?create=true")
        #expect(c.status == 200)
        #expect(FileManager.default.fileExists(atPath: server.store + "/data/ab"))
        let bytes = Fixtures.random(100_000, seed: "serve-raw")
        let name = SHA256.hash(bytes).hex
        let wrongName = SHA256.hash(Array("something else".utf8)).hex
        for type in ["data", "index", "snapshots", "keys", "locks"] {
            c = try server.curl("POST", "\(type)/" + wrongName, body: bytes)
            #expect(c.status == 400, "\(type): \(c.body)")
        }
        #expect(server.packs().isEmpty)
        #expect(server.objects("index").isEmpty && server.objects("keys").isEmpty && server.objects("locks").isEmpty)
        c = try server.curl("POST", "data/not-a-hash", body: bytes)
        #expect(c.status == 404)

        c = try server.curl("POST", "data/" + name, body: bytes)
        #expect(c.status == 200)
        #expect(server.packs() == [name])
        c = try server.curl("HEAD", "data/" + name)
        #expect(c.status == 200)
        #expect(server.lastHeaders.lowercased().contains("content-length: 100000"), "\(server.lastHeaders)")
        c = try server.curl("GET", "data/" + name, headers: ["Range: bytes=1000-5999"])
        #expect(c.status == 206)
        #expect(Fixtures.read(server.tmp.sub("curl-body")) == Array(bytes[1000..<6000]))
        #expect(server.lastHeaders.contains("bytes 1000-5999/100000"), "\(server.lastHeaders)")
        c = try server.curl("GET", "data/" + name, headers: ["Range: bytes=99000-"])
        #expect(c.status == 206 && Fixtures.read(server.tmp.sub("curl-body")) == Array(bytes[99_000...]))
        c = try server.curl("GET", "data/" + name, headers: ["Range: bytes=200000-"])
        #expect(c.status == 416)
        c = try server.curl("GET", "data/" + name)
        #expect(c.status == 200 && Fixtures.read(server.tmp.sub("curl-body")) == bytes)

        // v2 listing with sizes by Accept header, v1 names otherwise.
        c = try server.curl("GET", "data/", headers: ["Accept: application/vnd.x.restic.rest.v2"])
        #expect(c.status == 200 && c.body == "[{\"name\":\"\(name)\",\"size\":100000}]", "\(c.body)")
        c = try server.curl("GET", "data/")
        #expect(c.status == 200 && c.body == "[\"\(name)\"]", "\(c.body)")
        c = try server.curl("GET", "snapshots/", headers: ["Accept: application/vnd.x.restic.rest.v2"])
        #expect(c.status == 200 && c.body == "[]")
        c = try server.curl("GET", "nonsense/")
        #expect(c.status == 404)
        // Config is the one object not named by its hash.
        c = try server.curl("POST", "config", body: Array("a config".utf8))
        #expect(c.status == 200)
        c = try server.curl("GET", "config")
        #expect(c.status == 200 && c.body == "a config")
        c = try server.curl("GET", "data/../config", extra: ["--path-as-is"])
        #expect(c.status == 404)   // no path outside the layout

        c = try server.curl("DELETE", "data/" + name)
        #expect(c.status == 200)
        #expect(server.packs().isEmpty)
        c = try server.curl("DELETE", "data/" + name)   // already gone: still fine
        #expect(c.status == 200)
        c = try server.curl("GET", "data/" + name)
        #expect(c.status == 404)
    }

    @Test func wrongCredentialsAre401AndCairnSaysSo() throws {
        let server = try CairnServe()
        let start = Date()
        let r = try CLITests.cairn(["init", "--kdf-n", "1024"], repo: server.url(password: "wrong"))
        #expect(r.status != 0)
        #expect(r.err.contains("HTTP 401") && r.err.contains("user name and password"), "\(r.err)")
        #expect(!r.err.contains("wrong@"))   // credentials are not printed
        #expect(Date().timeIntervalSince(start) < 10)
        #expect(!FileManager.default.fileExists(atPath: server.store + "/keys"))
        var c = try server.curl("GET", "config", auth: false)
        #expect(c.status == 401)
        #expect(server.lastHeaders.lowercased().contains("www-authenticate: basic realm=\"cairn\""), "\(server.lastHeaders)")
        c = try server.curl("GET", "config", extra: ["-u", "mallory:\(server.pass)"])
        #expect(c.status == 401)
        c = try server.curl("GET", "config")
        #expect(c.status == 404)   // right credentials, no repository yet
    }

    @Test func refusesToStartWithoutAuthenticationOrWithNonBcryptEntries() throws {
        let tmp = TempDir()
        var r = try ToolRun.run(CLITests.binary, ["serve", "--path", tmp.sub("store"), "--listen", "127.0.0.1:\(CairnServe.freePort())"], in: tmp)
        #expect(r.status != 0)
        #expect(r.err.contains("--htpasswd") && r.err.contains("--no-auth"), "\(r.err)")
        Fixtures.write(tmp.sub("htpasswd"), Array("bob:$apr1$abcdefgh$0123456789abcdefghijkl\n".utf8))
        r = try ToolRun.run(CLITests.binary, ["serve", "--path", tmp.sub("store"), "--htpasswd", tmp.sub("htpasswd"),
                                              "--listen", "127.0.0.1:\(CairnServe.freePort())"], in: tmp)
        #expect(r.status != 0)
        #expect(r.err.contains("bcrypt") && r.err.contains("bob"), "\(r.err)")
        // --add-user reads the password from standard input too; the entry is bcrypt.
        let add = try ToolRun.run("/bin/sh", ["-c", "echo 'from stdin' | '\(CLITests.binary)' serve --htpasswd '\(tmp.sub("pw"))' --add-user carol"], in: tmp)
        #expect(add.status == 0, "\(add.err)")
        let line = String(decoding: Fixtures.read(tmp.sub("pw")) ?? [], as: UTF8.self)
        #expect(line.hasPrefix("carol:$2y$") && line.count == "carol:".count + 60 + 1, "\(line)")
        #expect(Fixtures.lstat(tmp.sub("pw")).st_mode & 0o777 == 0o600)
    }

    @Test func tlsWithASelfSignedCertificate() throws {
        let tmp = TempDir()
        let cert = tmp.sub("cert.pem"), key = tmp.sub("key.pem")
        let gen = try ToolRun.run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                                                       "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], in: tmp)
        try #require(gen.status == 0, "openssl: \(gen.err)")
        let server = try CairnServe(["--tls-cert", cert, "--tls-key", key], https: true)
        var c = try server.curl("POST", "?create=true", extra: ["--cacert", cert])
        #expect(c.status == 200, "\(c.run.err)\n\(server.log)")
        c = try server.curl("GET", "keys/", extra: ["--cacert", cert])
        #expect(c.status == 200 && c.body == "[]", "\(c.run.err)")
        c = try server.curl("GET", "keys/")   // without the CA: refused by curl
        #expect(c.status != 200)
        let plain = try ToolRun.run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-u", "\(server.user):\(server.pass)",
                                                      "http://127.0.0.1:\(server.port)/keys/"], in: tmp)
        #expect(plain.out != "200")   // plain HTTP to the TLS port gets nothing

        Self.sourceTree(tmp, seed: "tls")
        let repo = server.url()
        var r = try Restic.run(["--cacert", cert, "init"], repo: repo, tmp: tmp)
        #expect(r.status == 0, "restic init over TLS: \(r.err)\n\(server.log)")
        r = try Restic.run(["--cacert", cert, "backup", tmp.sub("src")], repo: repo, tmp: tmp)
        #expect(r.status == 0, "\(r.err)")
        r = try Restic.run(["--cacert", cert, "check"], repo: repo, tmp: tmp)
        #expect(r.status == 0, "\(r.out) \(r.err)")
        r = try Restic.run(["--cacert", cert, "restore", "latest", "--target", tmp.sub("out")], repo: repo, tmp: tmp)
        #expect(r.status == 0, "\(r.err)")
        Self.expectSameTree(tmp, restored: tmp.sub("out"))
    }
}
