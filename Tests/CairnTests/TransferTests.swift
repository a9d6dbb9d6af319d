import CairnCore
import Foundation
import Testing

/// Network faults between Cairn and a real store (rclone serve restic), injected by a TCP
/// proxy: a cut connection is retried within the run; an outage longer than the retries
/// fails the run, and the next run sends only what had not reached the store.
@Suite(.serialized) struct TransferTests {
    struct Summary: Decodable { var bytes_stored: UInt64 }
    struct Out: Decodable { var summary: Summary }

    static func source(_ tmp: TempDir, files: Int) -> String {
        for i in 0..<files { Fixtures.write(tmp.sub("src/f\(i)"), Fixtures.random(1 << 20, seed: "transfer-\(i)")) }
        return tmp.sub("src")
    }

    static func storeBytes(_ server: RcloneServer, _ name: String) -> UInt64 {
        let dir = server.tmp.sub("store/\(name)/data")
        return ((try? FileManager.default.subpathsOfDirectory(atPath: dir)) ?? []).reduce(0) {
            $0 + UInt64((try? FileManager.default.attributesOfItem(atPath: dir + "/" + $1)[.size] as? UInt64) ?? 0)
        }
    }

    func proxied(_ server: RcloneServer, _ proxy: FaultProxy, _ path: String) -> String {
        server.url(path).replacingOccurrences(of: ":\(server.port)/", with: ":\(proxy.port)/")
    }

    @Test func aConnectionCutMidPackIsRetriedWithinTheRun() throws {
        let server = try RcloneServer()
        let tmp = TempDir()
        let src = Self.source(tmp, files: 8)
        #expect(try CLITests.cairn(["init", "--kdf-n", "1024", "--pack-size", "1"], repo: server.url("repo")).status == 0)
        // Cut every connection once 4.5 MiB have gone up (inside the fifth pack), and refuse
        // connections for a second.
        let proxy = try FaultProxy(upstreamPort: server.port, cutAfter: 4_700_000, downFor: 1)
        let r = try CLITests.cairn(["backup", src], repo: proxied(server, proxy, "repo"))
        #expect(r.status == 0, "\(r.err)")
        let s = proxy.stats
        #expect(s.cuts == 1, "the proxy never cut: \(s)")
        // Sent once, plus the pack that was cut (and requests' overhead).
        let stored = Self.storeBytes(server, "repo")
        #expect(UInt64(s.up) <= stored + (1 << 20) + 200_000, "sent \(s.up) for \(stored) stored")
        let check = try CLITests.cairn(["check", "--read-data"], repo: server.url("repo"))
        #expect(check.status == 0, "\(check.out) \(check.err)")
        #expect(try CLITests.cairn(["restore", "latest", "--target", tmp.sub("out")], repo: server.url("repo")).status == 0)
        for i in 0..<8 {
            let same = Fixtures.read(tmp.sub("out") + src + "/f\(i)") == Fixtures.read(src + "/f\(i)")
            #expect(same, "f\(i)")
        }
    }

    @Test func anOutageLongerThanTheRetriesFailsAndTheNextRunResumes() throws {
        let server = try RcloneServer()
        let tmp = TempDir()
        let cache = tmp.sub("cache")
        let src = Self.source(tmp, files: 12)
        #expect(try CLITests.cairn(["init", "--kdf-n", "1024", "--pack-size", "1"], repo: server.url("repo")).status == 0)
        // The store goes away for good halfway through the data.
        let proxy = try FaultProxy(upstreamPort: server.port, cutAfter: 6_500_000, downFor: 3600)
        let failed = try CLITests.cairn(["--retries", "3", "backup", src], repo: proxied(server, proxy, "repo"), cache: cache)
        #expect(failed.status != 0)
        #expect(failed.err.contains("temporary failure"), "\(failed.err)")
        // No retry storm: a handful of requests (a pack, the index, the lock), each tried 4 times.
        let s = proxy.stats
        #expect(s.cuts == 1 && s.refused >= 4 && s.refused <= 40, "\(s)")
        let before = Self.storeBytes(server, "repo")
        #expect(before > 3 << 20, "only \(before) bytes reached the store before the outage")

        // The store is back (no proxy): the next run sends only what is missing.
        #expect(try CLITests.cairn(["unlock"], repo: server.url("repo"), cache: cache).status == 0)
        let r = try CLITests.cairn(["--json", "backup", src], repo: server.url("repo"), cache: cache)
        #expect(r.status == 0, "\(r.err)")
        let sent = try JSONDecoder().decode(Out.self, from: Data(r.out.utf8)).summary.bytes_stored
        let total = Self.storeBytes(server, "repo")
        // (`before` counts the part of a pack rclone wrote in place when the link was cut; the
        // resumed run deletes that leftover, its own by the upload journal.)
        #expect(sent <= total - before + (2 << 20), "resumed run sent \(sent); \(before) of \(total) were there")
        // About half was sent before the cut; the pack cut short is sent whole again.
        #expect(Double(sent) <= 0.6 * Double(total), "resumed run sent \(sent) of \(total)")
        let check = try CLITests.cairn(["check", "--read-data"], repo: server.url("repo"))
        #expect(check.status == 0, "\(check.out) \(check.err)")
    }

    @Test func aStalledRequestTimesOutAndIsRetried() throws {
        let server = try RcloneServer()
        let tmp = TempDir()
        let src = Self.source(tmp, files: 3)
        #expect(try CLITests.cairn(["init", "--kdf-n", "1024", "--pack-size", "1"], repo: server.url("repo")).status == 0)
        let proxy = try FaultProxy(upstreamPort: server.port, stallAfter: 1_500_000, stallFor: 8)
        let r = try CLITests.cairn(["--timeout", "3", "backup", src], repo: proxied(server, proxy, "repo"))
        #expect(r.status == 0, "\(r.err)")
        #expect(try CLITests.cairn(["check", "--read-data"], repo: server.url("repo")).status == 0)
    }

    @Test func uploadsKeepToTheLimit() throws {
        let tmp = TempDir()
        let repo = try CLITests.initRepo(tmp)
        let src = Self.source(tmp, files: 3)
        let start = Date()
        let r = try CLITests.cairn(["--limit-upload", "1024", "backup", src], repo: repo)
        #expect(r.status == 0, "\(r.err)")
        // 3 MiB at 1 MiB/s with a half-second burst cannot take less than 2.5 s.
        #expect(Date().timeIntervalSince(start) >= 2.4)
    }
}
