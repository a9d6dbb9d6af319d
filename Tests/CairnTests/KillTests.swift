import CairnCore
import Foundation
import Testing

/// `kill -9` of the real binary at seeded random moments of backup, restore, repair and
/// check. After each kill: stale locks are removed (`unlock`), the interrupted command is run
/// again to the end, and then `check --read-data` must call the repository healthy and the
/// latest snapshot must restore bit-exact (except paths a repair marked damaged).
/// CAIRN_KILL_CASES sets the number of cases (default 24).
@Suite(.serialized) struct KillTests {
    static let cases = Int(ProcessInfo.processInfo.environment["CAIRN_KILL_CASES"] ?? "") ?? 24

    enum Op: String, CaseIterable { case backup, restore, repairIndex, repairPacks, repairSnapshots, check }

    @Test func killNineAtRandomPoints() throws {
        var tally: [String: Int] = [:]
        var rng = SplitMix(state: 0xC0FFEE)
        // Kill moments are drawn below each command's observed run time (first guess 500 ms),
        // so most kills land inside the command however fast this machine is.
        var typicalMs: [Op: Int] = [:]
        for n in 0..<Self.cases {
            let op = Op.allCases[n % Op.allCases.count]
            let delayMs = rng.below(max(10, typicalMs[op] ?? 500))
            let (killed, elapsed) = try runCase(op, delayMs: delayMs, seed: UInt64(n))
            if !killed { typicalMs[op] = elapsed }
            tally[op.rawValue + (killed ? "(killed)" : "(finished)"), default: 0] += 1
        }
        print("kill -9: \(Self.cases) cases: " + tally.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        // Most kills must land inside the command, or the test proves little.
        let killed = tally.filter { $0.key.hasSuffix("(killed)") }.values.reduce(0, +)
        #expect(killed * 2 >= Self.cases, "\(tally)")
    }

    func runCase(_ op: Op, delayMs: Int, seed: UInt64) throws -> (killed: Bool, elapsedMs: Int) {
        let tmp = TempDir()
        let repo = try CLITests.initRepo(tmp)
        let src = tmp.sub("src")
        for i in 0..<3 { Fixtures.write(src + "/big\(i)", Fixtures.random(1 << 20, seed: "kill\(seed)-\(i)")) }
        for i in 0..<100 { Fixtures.write(src + "/small/\(i)", Fixtures.random(3000 + i, seed: "s\(seed)-\(i)")) }
        let label = "case \(seed) \(op) after \(delayMs) ms"
        var command: [String]
        switch op {
        case .backup:
            command = ["backup", src]
        case .restore:
            #expect(try CLITests.cairn(["backup", src], repo: repo).status == 0)
            command = ["restore", "latest", "--target", tmp.sub("out")]
        case .check:
            #expect(try CLITests.cairn(["backup", src], repo: repo).status == 0)
            command = ["check", "--read-data"]
        case .repairIndex, .repairPacks, .repairSnapshots:
            #expect(try CLITests.cairn(["backup", src], repo: repo).status == 0)
            // Damage one data pack, so every repair has work to do.
            let packs = try FileManager.default.subpathsOfDirectory(atPath: repo + "/data").filter { $0.count > 60 }.sorted()
            let victim = repo + "/data/" + packs[Int(seed % UInt64(packs.count))]
            var bytes = Fixtures.read(victim)!
            bytes[bytes.count / 3] ^= 0x10
            Fixtures.write(victim, bytes)
            if op == .repairIndex { try FileManager.default.removeItem(atPath: repo + "/index") }
            command = op == .repairIndex ? ["repair", "index"] : op == .repairPacks ? ["repair", "packs"] : ["repair", "snapshots"]
            if op == .repairSnapshots { #expect(try CLITests.cairn(["repair", "packs"], repo: repo).status == 0) }
        }
        let (killed, elapsed) = try Self.killDuring(command, repo: repo, afterMs: delayMs)
        #expect(try CLITests.cairn(["unlock"], repo: repo).status == 0, "\(label)")

        // Finish the job.
        switch op {
        case .backup, .restore, .check:
            let again = try CLITests.cairn(command, repo: repo)
            #expect(again.status == 0, "\(label): rerun: \(again.err)")
        case .repairIndex, .repairPacks, .repairSnapshots:
            for c in [["repair", "index"], ["repair", "packs"], ["repair", "snapshots"]] {
                let r = try CLITests.cairn(c, repo: repo)
                #expect(r.status == 0, "\(label): \(c): \(r.err)")
            }
        }
        let check = try CLITests.cairn(["check", "--read-data"], repo: repo)
        #expect(check.status == 0, "\(label): \(check.out) \(check.err)")

        // The latest snapshot restores as backed up (minus what a repair marked damaged).
        let out = tmp.sub("verify")
        let r = try CLITests.cairn(["restore", "latest", "--target", out], repo: repo)
        #expect(r.status == 0, "\(label): restore: \(r.err)")
        let marked = check.out.split(separator: "\n").filter { $0.hasPrefix("  snapshot ") }.map { String($0.split(separator: " ").last!) }
        for f in try FileManager.default.subpathsOfDirectory(atPath: src) where !f.hasSuffix("small") {
            let path = src + "/" + f
            if marked.contains(where: { path == $0 || path.hasPrefix($0 + "/") }) { continue }   // a file or folder repair marked
            let same = Fixtures.read(out + path) == Fixtures.read(path)
            #expect(same, "\(label): \(f) differs")
        }
        return (killed, elapsed)
    }

    /// Starts the command, kills it with SIGKILL after `ms` (unless it finished). Returns
    /// whether it was still running when killed, and how long it ran.
    static func killDuring(_ args: [String], repo: String, afterMs ms: Int, cache: String? = nil,
                           until condition: (() -> Bool)? = nil) throws -> (Bool, Int) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLITests.binary)
        p.arguments = ["-r", repo] + (cache.map { ["--cache-dir", $0] } ?? ["--no-cache"]) + ["-q"] + args
        var env = ProcessInfo.processInfo.environment
        env["CAIRN_PASSWORD"] = "pw"
        p.environment = env
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let start = Timestamp.now()
        func elapsedMs() -> Int { Int((Timestamp.now().nanoseconds - start.nanoseconds) / 1_000_000) }
        while p.isRunning && elapsedMs() < ms && !(condition?() ?? false) { usleep(1000) }
        let running = p.isRunning
        if running { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        return (running, elapsedMs())
    }
}
