import CairnCore
import CairnStorage
import Foundation
import Testing

/// Issue 14, item 9: wrong passwords from many connections must not starve real clients of
/// `cairn serve` (bcrypt for every request used to queue real requests behind them).
/// Loopback only; the flood is bounded in connections, requests and time.
@Suite(.serialized) struct ServeFloodTests {
    /// `connections` keep-alive connections from `source` (a loopback address), each sending
    /// GET /config with a wrong password until `stop` is set or `deadline` passes.
    final class Flood: @unchecked Sendable {
        let stop = Locked(false)
        let statuses = Locked([Int: Int]())
        let sent = Locked(0)
        var threads: [Thread] = []
        let done = DispatchGroup()

        init(port: Int, source: String, connections: Int, user: String, deadline: Date, maxRequests: Int) {
            let auth = Data("\(user):wrong-password".utf8).base64EncodedString()
            let request = Array("GET /config HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic \(auth)\r\n\r\n".utf8)
            for _ in 0..<connections {
                done.enter()
                let t = Thread { [self] in
                    defer { done.leave() }
                    var fd: Int32 = -1
                    while !stop.withLock({ $0 }) && Date() < deadline && sent.withLock({ $0 }) < maxRequests {
                        if fd < 0 { fd = Self.connect(port: port, source: source); if fd < 0 { usleep(10_000); continue } }
                        let ok = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) == $0.count }
                        sent.withLock { $0 += 1 }
                        guard ok, let status = Self.readResponse(fd) else { close(fd); fd = -1; continue }
                        statuses.withLock { $0[status, default: 0] += 1 }
                    }
                    if fd >= 0 { close(fd) }
                }
                t.stackSize = 256 << 10
                threads.append(t)
                t.start()
            }
        }

        func finish() {
            stop.withLock { $0 = true }
            done.wait()
        }

        static func connect(port: Int, source: String) -> Int32 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { return -1 }
            var tv = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(source)
            var remote = sockaddr_in()
            remote.sin_family = sa_family_t(AF_INET)
            remote.sin_port = UInt16(port).bigEndian
            remote.sin_addr.s_addr = inet_addr("127.0.0.1")
            let ok = withUnsafePointer(to: &local) { l in
                withUnsafePointer(to: &remote) { r in
                    l.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } == 0
                        && r.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } == 0
                }
            }
            if !ok { close(fd); return -1 }
            return fd
        }

        /// Reads one response (headers and a Content-Length body); its status.
        static func readResponse(_ fd: Int32) -> Int? {
            var data: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 4096)
            while true {
                if let end = data.firstRange(of: Array("\r\n\r\n".utf8)) {
                    let head = String(decoding: data[..<end.lowerBound], as: UTF8.self)
                    let lines = head.split(separator: "\r\n")
                    guard let first = lines.first, let status = Int(first.split(separator: " ").dropFirst().first ?? "") else { return nil }
                    let length = lines.first { $0.lowercased().hasPrefix("content-length:") }
                        .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                    while data.count < end.upperBound + length {
                        let n = recv(fd, &buf, buf.count, 0)
                        guard n > 0 else { return nil }
                        data += buf[0..<n]
                    }
                    return status
                }
                let n = recv(fd, &buf, buf.count, 0)
                guard n > 0 else { return nil }
                data += buf[0..<n]
            }
        }
    }

    /// One authenticated GET /config with curl; its time in seconds.
    static func timedGet(_ server: CairnServe) throws -> (status: Int, seconds: Double) {
        let start = Date()
        let r = try server.curl("GET", "config", extra: ["--max-time", "60"])
        return (r.status, Date().timeIntervalSince(start))
    }

    @Test func wrongPasswordsFromManyConnectionsDoNotStarveARealBackup() throws {
        let server = try CairnServe()
        let tmp = TempDir()
        ServeTests.sourceTree(tmp, seed: "flood")
        let repo = server.url()
        #expect(try CLITests.cairn(["init", "--kdf-n", "1024", "--pack-size", "1"], repo: repo).status == 0)
        // A second user who has not logged in yet: the backup's first request needs bcrypt
        // while the flood runs.
        let add = try ToolRun.run(CLITests.binary, ["serve", "--htpasswd", server.tmp.sub("htpasswd"), "--add-user", "bob"],
                                  env: ["CAIRN_SERVE_PASSWORD": "bobs password"], in: server.tmp)
        #expect(add.status == 0, "\(add.err)")
        sleep(2)   // the server re-reads the file at most once a second
        let quiet = try Self.timedGet(server)
        #expect(quiet.status == 200)

        // 200 connections from 127.0.0.2, each sending wrong passwords as fast as answered.
        let flood = Flood(port: server.port, source: "127.0.0.2", connections: 200, user: "alice",
                          deadline: Date().addingTimeInterval(90), maxRequests: 2_000_000)
        defer { flood.finish() }
        sleep(3)   // let the flood build up
        let during = try Self.timedGet(server)
        let bobURL = "rest:http://bob:bobs%20password@127.0.0.1:\(server.port)/"
        let start = Date()
        let backup = try CLITests.cairn(["backup", "--retries", "4", "--timeout", "30", tmp.sub("src")], repo: bobURL)
        let took = Date().timeIntervalSince(start)
        let afterBackup = try Self.timedGet(server)
        flood.finish()
        let counts = flood.statuses.withLock { $0 }
        print("serve flood: \(flood.sent.withLock { $0 }) wrong-password requests, statuses \(counts); "
              + "GET /config quiet \(quiet.seconds) s, during flood \(during.seconds) s, after backup \(afterBackup.seconds) s; backup \(took) s")
        #expect(backup.status == 0, "\(backup.err)")
        // Before: about 26 wrong passwords were hashed a second and every request (remembered
        // credentials too) queued behind them: 11-15 s per request, a 2-second backup over 75 s.
        #expect(took < 20, "backup took \(took) s during the flood")
        #expect(during.status == 200 && during.seconds < 5, "GET /config took \(during.seconds) s during the flood")
        #expect(afterBackup.status == 200 && afterBackup.seconds < 5)
        // The flood was answered, mostly without hashing.
        #expect((counts[429] ?? 0) + (counts[503] ?? 0) > (counts[401] ?? 0), "\(counts)")
        #expect(try CLITests.cairn(["check"], repo: repo).status == 0)
    }
}
