import CairnCore
@testable import CairnRetention
import CairnFormat
import Foundation
import Testing

/// Keep policies saved per group of snapshots (`policy set|show|clear`, forget without flags).
@Suite(.serialized) struct PolicyTests {
    /// Two sources (folders a and b), `days` daily backups of each.
    static func twoSources(_ tmp: TempDir, days: Int) throws -> (repo: String, a: String, b: String) {
        let repo = try PruneTests.initRepo(tmp)
        let a = tmp.sub("a"), b = tmp.sub("b")
        for d in 1...days {
            Fixtures.write(a + "/f", Fixtures.random(1000, seed: "a\(d)"))
            Fixtures.write(b + "/f", Fixtures.random(1000, seed: "b\(d)"))
            let day = String(format: "%02d", d)
            #expect(try CLITests.cairn(["backup", a, "--time", "2026-03-\(day)T10:00:00Z"], repo: repo).status == 0)
            #expect(try CLITests.cairn(["backup", b, "--time", "2026-03-\(day)T11:00:00Z"], repo: repo).status == 0)
        }
        return (repo, a, b)
    }

    /// forget --dry-run --json: the IDs kept and removed, per group paths.
    static func plan(_ repo: String, _ args: [String]) throws -> [String: (keep: Set<String>, remove: Set<String>)] {
        let r = try CLITests.cairn(["forget", "--dry-run", "--json"] + args, repo: repo)
        let groups = (try? JSONSerialization.jsonObject(with: Data(r.out.utf8))) as? [[String: Any]] ?? []
        var out: [String: (keep: Set<String>, remove: Set<String>)] = [:]
        for g in groups {
            func ids(_ k: String) -> Set<String> { Set((g[k] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }) }
            out[(g["paths"] as? [String] ?? []).joined(separator: ",")] = (ids("keep"), ids("remove"))
        }
        return out
    }

    static func show(_ repo: String) throws -> [String: (snapshot: String, retention: [String: Any])] {
        let r = try CLITests.cairn(["policy", "show", "--json"], repo: repo)
        var out: [String: (snapshot: String, retention: [String: Any])] = [:]
        for g in (try? JSONSerialization.jsonObject(with: Data(r.out.utf8))) as? [[String: Any]] ?? [] {
            let paths = ((g["group"] as? [String: Any])?["paths"] as? [String] ?? []).joined(separator: ",")
            if let s = g["snapshot"] as? String, let ret = g["retention"] as? [String: Any] { out[paths] = (s, ret) }
        }
        return out
    }

    @Test func savedPoliciesApplyPerSourceAsTheFlagsWould() throws {
        let tmp = TempDir()
        let (repo, a, b) = try Self.twoSources(tmp, days: 8)
        #expect(try Self.show(repo).isEmpty)
        #expect(try CLITests.cairn(["policy", "set", "--path", a, "--keep-last", "2"], repo: repo).status == 0)
        #expect(try CLITests.cairn(["policy", "set", "--path", b, "--keep-daily", "3", "--keep-within", "5d"], repo: repo).status == 0)
        let saved = try Self.show(repo)
        #expect(saved[a]?.retention["last"] as? Int == 2)
        #expect(saved[b]?.retention["daily"] as? Int == 3 && saved[b]?.retention["within"] as? String == "5d")

        // Without flags each group gets its own saved policy: the same plan as the flags give.
        let fromSaved = try Self.plan(repo, [])
        let flagsA = try Self.plan(repo, ["--path", a, "--keep-last", "2"])
        let flagsB = try Self.plan(repo, ["--path", b, "--keep-daily", "3", "--keep-within", "5d"])
        #expect(fromSaved[a]?.keep == flagsA[a]?.keep && fromSaved[a]?.remove == flagsA[a]?.remove)
        #expect(fromSaved[b]?.keep == flagsB[b]?.keep && fromSaved[b]?.remove == flagsB[b]?.remove)
        #expect(fromSaved[a]?.keep.count == 2 && fromSaved[a]?.remove.count == 6)

        let r = try CLITests.cairn(["forget"], repo: repo)
        #expect(r.status == 0, "\(r.err)")
        let left = try MaintenanceSequenceTests.list(repo, "policy")
        #expect(left.count == 2 + (fromSaved[b]?.keep.count ?? -1))
        // A backup carries the source's policy forward into its new snapshot.
        Fixtures.write(a + "/f", Fixtures.random(1000, seed: "a-new"))
        #expect(try CLITests.cairn(["backup", a, "--time", "2026-03-20T10:00:00Z"], repo: repo).status == 0)
        let newest = try MaintenanceSequenceTests.list(repo, "policy").last!
        #expect(try Self.show(repo)[a]?.snapshot == newest.id, "the new snapshot holds the policy")
        #expect(try Self.plan(repo, [])[a]?.keep.count == 2)
    }

    @Test func thePolicyMovesWhenTheSnapshotHoldingItIsForgotten() throws {
        let tmp = TempDir()
        let (repo, a, _) = try Self.twoSources(tmp, days: 4)
        let first = try MaintenanceSequenceTests.list(repo, "move").first { $0.time.hasPrefix("2026-03-01") }!
        #expect(try CLITests.cairn(["tag", "--add", "keep", first.id], repo: repo).status == 0)
        // Only tagged snapshots are kept: the newest, which holds the policy, goes.
        #expect(try CLITests.cairn(["policy", "set", "--path", a, "--keep-tag", "keep"], repo: repo).status == 0)
        let r = try CLITests.cairn(["forget", "--path", a], repo: repo)
        #expect(r.status == 0, "\(r.err)")
        let left = try MaintenanceSequenceTests.list(repo, "move").filter { $0.tags.contains("keep") }
        #expect(left.count == 1)
        #expect(try Self.show(repo)[a]?.snapshot == left.first?.id, "the kept snapshot took the policy over")
        #expect(try Self.plan(repo, [])[a]?.remove.isEmpty == true, "a second forget changes nothing")
    }

    @Test func clearLeavesForgetWithNothingToDo() throws {
        let tmp = TempDir()
        let (repo, a, b) = try Self.twoSources(tmp, days: 3)
        #expect(try CLITests.cairn(["policy", "set", "--keep-last", "1"], repo: repo).status == 0)
        #expect(try Self.show(repo).count == 2, "no filter: every group")
        // A backup carried it forward; clear takes it off every snapshot that has it.
        Fixtures.write(a + "/g", [1])
        #expect(try CLITests.cairn(["backup", a], repo: repo).status == 0)
        #expect(try CLITests.cairn(["policy", "clear", "--path", a], repo: repo).status == 0)
        #expect(try Self.show(repo)[a] == nil && Self.show(repo)[b] != nil)
        let before = try MaintenanceSequenceTests.list(repo, "clear").count
        let r = try CLITests.cairn(["forget"], repo: repo)
        #expect(r.status == 0)
        #expect(try MaintenanceSequenceTests.list(repo, "clear").count == before - 2, "only b's policy applied")
        #expect(try CLITests.cairn(["policy", "set", "--path", "/nowhere", "--keep-last", "1"], repo: repo).status != 0)
    }

    @Test func retentionMemberIsValidatedAndRoundTrips() throws {
        var p = RetentionPolicy()
        p.last = 3; p.monthly = -1; p.withinDaily = RetentionDuration(parsing: "1y2m")!; p.keepTags = [["a", "b"], [""]]
        let saved = p.saved
        #expect(try RetentionPolicy(saved: saved) == p)
        let json = String(decoding: try JSONEncoder().encode(saved), as: UTF8.self)
        #expect(!json.contains("\"daily\"") && json.contains("\"within_daily\":\"1y2m\""), "\(json)")
        var bad = saved; bad.last = -2
        #expect(!bad.isValid)
        for d in ["", "5", "5x", "d", "1234567890d", "1d2"] {
            var b = SavedPolicy(); b.within = d
            #expect(!b.isValid, "\(d)")
        }
        var ok = SavedPolicy(); ok.within = "2y5m7d3h"
        #expect(ok.isValid)
    }
}
