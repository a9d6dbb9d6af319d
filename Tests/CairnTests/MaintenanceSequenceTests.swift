import CairnCore
import CairnMaintenance
import Foundation
import Testing

/// The retention issue's acceptance property: random sequences of backups, `forget` by random
/// policies (some with `--prune`), `rewrite --forget`, prunes, and any of these killed with
/// SIGKILL at a random moment. After every kill `check` is healthy and running the command
/// again completes it; at the end every remaining snapshot restores bit-exact, a prune finds
/// nothing left to do, and `check --read-data` passes.
///
/// Snapshots are followed by their time (each backup records a distinct `--time`), which
/// rewrite keeps, so the expected content survives IDs changing.
@Suite(.serialized) struct MaintenanceSequenceTests {
    struct Listed { var id: String; var time: String; var tags: [String] }

    static func list(_ repo: String, _ label: String) throws -> [Listed] {
        let r = try CLITests.cairn(["snapshots", "--json"], repo: repo)
        guard r.status == 0, let all = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [[String: Any]] else {
            Issue.record("\(label): snapshots --json: \(r.err)"); return []
        }
        return all.compactMap { e in
            guard let id = e["id"] as? String, let s = e["snapshot"] as? [String: Any], let t = s["time"] as? String else { return nil }
            return Listed(id: id, time: t, tags: s["tags"] as? [String] ?? [])
        }
    }

    /// CAIRN_MAINT_SEEDS sets the number of seeds; CAIRN_MAINT_SEED=<hex> reruns the one a failure names.
    @Test func randomBackupForgetRewritePruneWithKills() throws {
        let env = ProcessInfo.processInfo.environment
        let seeds = Int(env["CAIRN_MAINT_SEEDS"] ?? "") ?? 4
        let list = env["CAIRN_MAINT_SEED"].flatMap { UInt64($0, radix: 16) }.map { [$0] } ?? (0..<UInt64(seeds)).map { $0 &+ 0x5EED }
        var total = Tally()
        var typicalMs = 300
        for seed in list {
            let (t, ms) = try Self.sequence(seed: seed, typicalMs: typicalMs)
            total.killed += t.killed; total.forgotten += t.forgotten; total.rewritten += t.rewritten; total.restored += t.restored
            if ms > 0 { typicalMs = ms }
        }
        print("maintenance property test: \(list.count) seeds, \(total.killed) commands killed while running, "
              + "\(total.forgotten) snapshots forgotten, \(total.rewritten) rewritten, \(total.restored) restored at the end")
        // The sequences must have exercised what they claim to.
        #expect(list.count == 1 || total.killed >= list.count, "too few kills landed inside a command")
        #expect(list.count == 1 || (total.forgotten > 0 && total.rewritten > 0 && total.restored >= list.count), "\(total)")
    }

    struct Tally { var killed = 0, forgotten = 0, rewritten = 0, restored = 0 }

    /// One random sequence. Returns what happened, and how long the last complete prune took.
    static func sequence(seed: UInt64, typicalMs: Int) throws -> (Tally, Int) {
        let label = "seed \(String(seed, radix: 16)) (rerun: CAIRN_MAINT_SEED=\(String(seed, radix: 16)))"
        var rng = SplitMix(state: seed)
        let tmp = TempDir()
        let repo = try PruneTests.initRepo(tmp)
        let src = tmp.sub("src")
        var files: [String: [UInt8]] = [:]
        var kept: [String: [String: [UInt8]]] = [:]   // snapshot time → content
        var tally = Tally()
        var lastMs = 0, typical = typicalMs
        var step = 0, hours = 0
        let start = Timestamp.parse("2026-01-01T00:00:00Z")!

        /// Runs a command, killed after a random delay when `kill`; a run that is not killed must succeed.
        func run(_ args: [String], kill: Bool) throws -> CLITests.Run? {
            if kill {
                let (wasRunning, _) = try KillTests.killDuring(args, repo: repo, afterMs: rng.below(typical + 20))
                if wasRunning {
                    tally.killed += 1
                    let check = try CLITests.cairn(["check"], repo: repo)
                    #expect(check.status == 0, "\(label): check after killing \(args): \(check.out) \(check.err)")
                    return nil
                }
            }
            let r = try CLITests.cairn(args, repo: repo)
            #expect(r.status == 0, "\(label): \(args): \(r.out) \(r.err)")
            return r
        }
        /// The snapshots now in the repository: one per time, and only times we expect.
        func reconcile() throws -> [Listed] {
            let now = try list(repo, label)
            #expect(Set(now.map(\.time)).count == now.count, "\(label): two snapshots share a time: \(now.map(\.time))")
            #expect(Set(now.map(\.time)).isSubset(of: kept.keys), "\(label): unexpected snapshots")
            kept = kept.filter { k, _ in now.contains { $0.time == k } }
            return now
        }
        func backup(kill: Bool) throws {
            for _ in 0..<(1 + rng.below(4)) {
                let name = "d\(rng.below(3))/f\(rng.below(8))"
                switch rng.below(4) {
                case 0: files[name] = nil
                case 1: files[name, default: []] += Fixtures.random(20_000 + rng.below(60_000), seed: "\(seed)-\(step)-g")
                default: files[name] = Fixtures.random(30_000 + rng.below(250_000), seed: "\(seed)-\(step)-\(name)")
                }
            }
            try? FileManager.default.removeItem(atPath: src)
            try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: true)
            for (n, b) in files { Fixtures.write(src + "/" + n, b) }
            hours += 1 + rng.below(60)
            let time = Timestamp(nanoseconds: start.nanoseconds + Int64(hours) * 3_600_000_000_000)
            let tag = ["t0", "t1", "t2"][rng.below(3)]
            _ = try run(["backup", src, "--time", time.rfc3339, "--tag", tag], kill: kill)
            let before = Set(kept.keys)
            // A killed backup may still have saved its snapshot: then it is expected too.
            for s in try list(repo, label) where !before.contains(s.time) { kept[s.time] = files }
        }
        func forget(kill: Bool) throws {
            let rules: [[String]] = [["--keep-last", "\(1 + rng.below(4))"], ["--keep-daily", "\(1 + rng.below(3))"],
                                     ["--keep-weekly", "\(1 + rng.below(2))"], ["--keep-within", "\(1 + rng.below(5))d"],
                                     ["--keep-tag", "t\(rng.below(3))"], ["--keep-hourly", "\(rng.below(6))"]]
            var policy = rules[rng.below(rules.count)]
            if rng.below(2) == 0 { policy += rules[rng.below(rules.count)] }
            let withPrune = rng.below(3) == 0
            // What --dry-run says must be exactly what the real run removes.
            let dry = try CLITests.cairn(["forget", "--dry-run", "--json"] + policy, repo: repo)
            let groups = (try? JSONSerialization.jsonObject(with: Data(dry.out.utf8))) as? [[String: Any]] ?? []
            let announced = Set(groups.flatMap { ($0["remove"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String } })
            let before = Set(try list(repo, label).map(\.id))
            _ = try run(["forget"] + policy + (withPrune ? ["--prune"] : []), kill: kill)
            _ = try run(["forget"] + policy, kill: false)   // finishes a killed run; a no-op otherwise
            let after = Set(try reconcile().map(\.id))
            tally.forgotten += before.subtracting(after).count
            #expect(before.subtracting(after) == announced, "\(label): forget \(policy) removed other snapshots than --dry-run announced")
        }
        func rewrite(kill: Bool) throws {
            let name = "f\(rng.below(8))"
            if try run(["rewrite", "--forget", "-e", name], kill: kill) == nil {
                _ = try run(["rewrite", "--forget", "-e", name], kill: false)   // finishes the killed run
            }
            let done = try run(["rewrite", "--dry-run", "-e", name, "--json"], kill: false)
            // Nothing is left to remove, and no duplicate was left by a kill between save and delete (reconcile).
            if let out = done?.out, let j = try? JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any] {
                #expect((j["rewritten"] as? [Any])?.isEmpty == true, "\(label): rewrite -e \(name) had work left: \(out)")
            } else { Issue.record("\(label): rewrite --json: \(done?.out ?? "")") }
            for t in kept.keys {
                let left = kept[t]!.filter { !$0.key.hasSuffix("/" + name) }
                if left.count != kept[t]!.count { tally.rewritten += 1 }
                kept[t] = left
            }
            _ = try reconcile()
        }
        func prune(kill: Bool) throws {
            let limits = ["0%", "5%", "20%", "unlimited", "100K"]
            let limit = limits[rng.below(limits.count)]
            let t0 = Timestamp.now()
            if try run(["prune", "--max-unused", limit], kill: kill) != nil {
                lastMs = Int((Timestamp.now().nanoseconds - t0.nanoseconds) / 1_000_000)
                typical = max(50, lastMs)
            } else {
                _ = try run(["prune", "--max-unused", limit], kill: false)
            }
        }

        for _ in 0..<3 { step += 1; try backup(kill: false) }
        for _ in 0..<12 {
            step += 1
            let kill = rng.below(3) == 0
            switch rng.below(7) {
            case 0, 1: try backup(kill: kill)
            case 2, 3: try forget(kill: kill)
            case 4: try rewrite(kill: kill)
            default: try prune(kill: kill)
            }
        }
        _ = try run(["prune", "--max-unused", "0%"], kill: false)
        // Idempotent: nothing left to do, and no pack outside the index.
        let dry = try CLITests.cairn(["prune", "--dry-run", "--json", "--max-unused", "0%"], repo: repo)
        if let r = try? JSONDecoder().decode(PruneResult.self, from: Data(dry.out.utf8)) {
            #expect(r.plan.packsToDelete == 0 && r.plan.packsToRepack == 0 && r.plan.unindexedPacks == 0 && r.plan.unusedBytes == 0, "\(label): \(r.plan)")
        } else { Issue.record("\(label): prune --dry-run --json: \(dry.out) \(dry.err)") }
        let check = try CLITests.cairn(["check", "--read-data"], repo: repo)
        #expect(check.status == 0 && !check.out.contains("note:"), "\(label): \(check.out) \(check.err)")
        // Every remaining snapshot restores bit-exact.
        let now = try reconcile()
        #expect(Set(now.map(\.time)) == Set(kept.keys), "\(label)")
        for s in now {
            guard let content = kept[s.time] else { continue }
            let out = tmp.sub("out-\(s.id.prefix(8))")
            let r = try CLITests.cairn(["restore", String(s.id.prefix(16)), "--target", out], repo: repo)
            #expect(r.status == 0, "\(label): restore \(s.id.prefix(8)): \(r.err)")
            let restored = Set((FileManager.default.subpaths(atPath: out + src) ?? []).filter { p in
                var isDir: ObjCBool = false
                return FileManager.default.fileExists(atPath: out + src + "/" + p, isDirectory: &isDir) && !isDir.boolValue
            })
            #expect(restored == Set(content.keys), "\(label): \(s.id.prefix(8)) file list")
            tally.restored += 1
            for (name, bytes) in content {
                #expect(Fixtures.read(out + src + "/" + name) == bytes, "\(label): \(s.id.prefix(8)) \(name) differs")
            }
        }
        return (tally, lastMs)
    }
}
