import CairnStorage
import Foundation

/// A real S3 on loopback: moto_server wrapped by scripts/test-stores/moto_sigv4.py, which
/// verifies every request's Signature V4 (stock moto accepts any). Each suite starts its own
/// on a free port; the wrapper makes an IAM user allowed s3:* and hands back its key.
/// Python's moto comes from `scripts/deps.sh --test`.
final class MotoServer: @unchecked Sendable {
    let tmp = TempDir()
    let process = Process()
    let port: Int
    let accessKey: String
    let secretKey: String
    let region = "us-east-1"

    static let installHint = "run scripts/deps.sh --test (it installs python3-pip and pip installs moto[server]==5.2.1)"

    init() throws {
        guard let python = Self.python() else {
            throw StorageError.io("python3 is not installed: \(Self.installHint)")
        }
        let check = Process()
        check.executableURL = URL(fileURLWithPath: python)
        check.arguments = ["-c", "import moto.server, flask, flask_cors"]
        check.standardOutput = FileHandle.nullDevice
        check.standardError = FileHandle.nullDevice
        try check.run()
        check.waitUntilExit()
        guard check.terminationStatus == 0 else {
            throw StorageError.io("python3 cannot import moto.server (moto[server] missing): \(Self.installHint)")
        }
        let wrapper = Fixtures.packageRoot + "/scripts/test-stores/moto_sigv4.py"
        guard FileManager.default.fileExists(atPath: wrapper) else { throw StorageError.io("missing \(wrapper)") }
        port = try Self.freePort()
        _ = FileManager.default.createFile(atPath: tmp.sub("moto.log"), contents: nil)
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [wrapper, "-H", "127.0.0.1", "-p", String(port)]
        var env = ProcessInfo.processInfo.environment
        env["MOTO_SIGV4_CREDENTIALS"] = tmp.sub("credentials")
        env["MOTO_SIGV4_REGION"] = region
        env["PYTHONUNBUFFERED"] = "1"
        process.environment = env
        process.standardOutput = FileHandle(forWritingAtPath: tmp.sub("moto.log"))
        process.standardError = FileHandle(forWritingAtPath: tmp.sub("moto.log"))
        try process.run()
        // Ready when it accepts connections (moto's imports take a few seconds).
        var up = false
        for _ in 0..<300 where process.isRunning {
            if RcloneServer.accepts(port: port) { up = true; break }
            usleep(100_000)
        }
        guard up, let creds = try? String(contentsOfFile: tmp.sub("credentials"), encoding: .utf8) else {
            let log = (try? String(contentsOfFile: tmp.sub("moto.log"), encoding: .utf8)) ?? ""
            if process.isRunning { process.terminate(); process.waitUntilExit() }
            throw StorageError.io("moto_server did not start on port \(port): \(log.suffix(1500))")
        }
        let lines = creds.split(separator: "\n").map(String.init)
        accessKey = lines[0]; secretKey = lines[1]
    }

    deinit {
        if process.isRunning { process.terminate() }
        for _ in 0..<50 where process.isRunning { usleep(100_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }   // data is in memory: nothing to lose
        process.waitUntilExit()
    }

    /// python3 from PATH (a pyenv shim is fine: it execs the real interpreter).
    static func python() -> String? {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
        return (dirs + ["/usr/bin", "/usr/local/bin"]).map { $0 + "/python3" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// A port nobody listens on: bind port 0, read what the kernel gave, close.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw StorageError.io("socket: \(errno)") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw StorageError.io("bind: \(errno)") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    var endpoint: String { "http://127.0.0.1:\(port)" }

    /// `s3:` location of a bucket and prefix on this server.
    func url(_ bucketAndPrefix: String) -> String { "s3:" + endpoint + "/" + bucketAndPrefix }

    /// The environment the CLI and the backend read credentials from.
    func environment(secret: String? = nil) -> [String: String] {
        ["AWS_ACCESS_KEY_ID": accessKey, "AWS_SECRET_ACCESS_KEY": secret ?? secretKey, "AWS_DEFAULT_REGION": region,
         "CAIRN_S3_BUCKET_LOOKUP": "path", "AWS_SESSION_TOKEN": "", "AWS_REGION": ""]
    }

    /// werkzeug's request log: one `"METHOD /path?query HTTP/1.1" STATUS -` line a request.
    func requests() -> [String] {
        let log = (try? String(contentsOfFile: tmp.sub("moto.log"), encoding: .utf8)) ?? ""
        return log.split(separator: "\n").map(String.init).filter { $0.contains("\" ") && $0.contains(" HTTP/1.1\"") }
    }
}
