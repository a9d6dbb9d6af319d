import CairnCore
import CairnRetention
import CairnFormat
import CairnRepository
import CairnStorage
import Foundation
import Testing

/// `cairn forget` and `cairn tag` end to end, and forget against restic 0.14 on the same history.
@Suite(.serialized) struct ForgetCLITests {
    struct Run { var status: Int32; var out: String; var err: String }

    /// Runs a tool with extra environment (TZ), not quiet, capturing both streams.
    static func tool(_ path: String, _ args: [String], env extra: [String: String]) throws -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env.merge(extra) { $1 }
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err; p.standardInput = FileHandle.nullDevice
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, out: String(decoding: o, as: UTF8.self), err: String(decoding: e, as: UTF8.self))
    }

    static func cairn(_ args: [String], repo: String, tz: String = "UTC") throws -> Run {
        try tool(CLITests.binary, ["-r", repo, "--no-cache"] + args, env: ["CAIRN_PASSWORD": "pw", "TZ": tz])
    }

    static func snapshotFiles(_ repo: String) -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: repo + "/snapshots"))?.filter { !$0.hasPrefix(".") } ?? [])
    }

    static func json(_ s: String) -> Any? { try? JSONSerialization.jsonObject(with: Data(s.utf8)) }

    /// (id, time, tags, original, tree) of every snapshot, oldest first.
    static func list(_ repo: String) throws -> [(id: String, time: String, tags: [String], original: String?, tree: String)] {
        let r = try cairn(["snapshots", "--json"], repo: repo)
        let arr = json(r.out) as? [[String: Any]] ?? []
        return arr.map { e in
            let s = e["snapshot"] as! [String: Any]
            return (e["id"] as! String, s["time"] as! String, s["tags"] as? [String] ?? [], s["original"] as? String, s["tree"] as! String)
        }
    }

    /// A repository with one backup per time (host h, the same folder).
    static func repository(_ tmp: TempDir, times: [String], tags: [String] = []) throws -> String {
        let repo = try CLITests.initRepo(tmp)
        Fixtures.write(tmp.sub("src/f"), Array("content".utf8))
        for t in times {
            let r = try cairn(["backup", "--host", "h", "--time", t, tmp.sub("src")] + tags.flatMap { ["--tag", $0] }, repo: repo)
            #expect(r.status == 0, "\(r.err)")
        }
        return repo
    }

    /// `forget --prune` frees what only the removed snapshots used, under one lock.
    @Test func forgetWithPruneFreesTheData() throws {
        let tmp = TempDir()
        let repo = try CLITests.initRepo(tmp)
        func packBytes() -> Int {
            let e = FileManager.default.enumerator(atPath: repo + "/data")
            var total = 0
            while let f = e?.nextObject() as? String { total += (try? FileManager.default.attributesOfItem(atPath: repo + "/data/" + f)[.size] as? Int) ?? 0 }
            return total
        }
        for (i, t) in ["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"].enumerated() {
            Fixtures.write(tmp.sub("src/f"), Fixtures.random(3 << 20, seed: "version \(i)"))
            #expect(try Self.cairn(["backup", "--host", "h", "--time", t, tmp.sub("src")], repo: repo).status == 0)
        }
        let before = packBytes()
        #expect(try Self.cairn(["forget", "--prune", "--dry-run", "--keep-last", "1"], repo: repo).status != 0)
        let r = try Self.cairn(["forget", "--prune", "--keep-last", "1"], repo: repo)
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("removed 1 snapshot(s); pruning") && r.out.contains("freed"), "\(r.out)")
        #expect(Self.snapshotFiles(repo).count == 1)
        let after = packBytes()
        #expect(after < before - (2 << 20), "packs \(before) -> \(after) bytes")
        #expect(try Self.cairn(["check", "--read-data"], repo: repo).status == 0)
        let out = tmp.sub("out")
        #expect(try Self.cairn(["restore", "latest", "--target", out], repo: repo).status == 0)
        #expect(Fixtures.read(out + tmp.sub("src/f")) == Fixtures.random(3 << 20, seed: "version 1"))
    }

    @Test func forgetRemovesTheRightSnapshotFilesAndDryRunNothing() throws {
        let tmp = TempDir()
        let times = ["2026-01-01T10:00:00Z", "2026-01-01T20:00:00Z", "2026-01-02T10:00:00Z", "2026-01-09T10:00:00Z", "2026-02-01T10:00:00Z"]
        let repo = try Self.repository(tmp, times: times)
        let before = try Self.list(repo)
        #expect(before.count == 5)
        let files = Self.snapshotFiles(repo)

        let dry = try Self.cairn(["forget", "--dry-run", "--keep-daily", "3"], repo: repo)
        #expect(dry.status == 0, "\(dry.err)")
        #expect(dry.out.contains("keep 3 snapshot(s)") && dry.out.contains("would remove 2 snapshot(s)"), "\(dry.out)")
        #expect(dry.out.contains("daily snapshot") && dry.out.contains("snapshots for host h, paths ["))
        #expect(Self.snapshotFiles(repo) == files)

        let dj = try Self.cairn(["forget", "--dry-run", "--json", "--keep-daily", "3", "--keep-last", "1"], repo: repo)
        let groups = Self.json(dj.out) as? [[String: Any]] ?? []
        #expect(groups.count == 1)
        let keep = (groups.first?["keep"] as? [[String: Any]] ?? []).map { $0["id"] as! String }
        let remove = (groups.first?["remove"] as? [[String: Any]] ?? []).map { $0["id"] as! String }
        #expect(keep == [before[4].id, before[3].id, before[2].id])
        #expect(Set(remove) == [before[0].id, before[1].id])
        let reasons = groups.first?["reasons"] as? [[String: Any]] ?? []
        #expect(reasons.first?["matches"] as? [String] == ["last snapshot", "daily snapshot"])
        #expect(Self.snapshotFiles(repo) == files)

        let real = try Self.cairn(["forget", "--keep-daily", "3"], repo: repo)
        #expect(real.status == 0, "\(real.err)")
        #expect(real.out.contains("removed 2 snapshot(s)"))
        #expect(Self.snapshotFiles(repo) == [before[2].id, before[3].id, before[4].id])
        #expect(try Self.cairn(["check"], repo: repo).status == 0)

        // Again: nothing more to remove.
        #expect(try Self.cairn(["forget", "--keep-daily", "3"], repo: repo).out.contains("removed 0 snapshot(s)"))
        // Named snapshots go without a policy.
        let named = try Self.cairn(["forget", String(before[3].id.prefix(8))], repo: repo)
        #expect(named.status == 0, "\(named.err)")
        #expect(Self.snapshotFiles(repo) == [before[2].id, before[4].id])
        // No policy: nothing removed.
        let none = try Self.cairn(["forget"], repo: repo)
        #expect(none.status == 0 && none.err.contains("no policy"))
        #expect(Self.snapshotFiles(repo).count == 2)
        #expect(try Self.cairn(["check"], repo: repo).status == 0)
    }

    @Test func forgetGroupsAndFilters() throws {
        let tmp = TempDir()
        let repo = try CLITests.initRepo(tmp)
        Fixtures.write(tmp.sub("a/f"), Array("a".utf8))
        Fixtures.write(tmp.sub("b/f"), Array("b".utf8))
        for (i, (host, dir)) in [("h1", "a"), ("h1", "a"), ("h1", "b"), ("h2", "a"), ("h2", "a")].enumerated() {
            #expect(try Self.cairn(["backup", "--host", host, "--time", "2026-03-0\(i + 1)T12:00:00Z", tmp.sub(dir)], repo: repo).status == 0)
        }
        func kept(_ args: [String]) throws -> Int {
            let r = try Self.cairn(["forget", "--dry-run", "--json", "--keep-last", "1"] + args, repo: repo)
            #expect(r.status == 0, "\(r.err)")
            return (Self.json(r.out) as? [[String: Any]] ?? []).reduce(0) { $0 + (($1["keep"] as? [Any])?.count ?? 0) }
        }
        #expect(try kept([]) == 3)                       // host+paths: h1/a, h1/b, h2/a
        #expect(try kept(["--group-by", "host"]) == 2)
        #expect(try kept(["--group-by", ""]) == 1)
        #expect(try kept(["--host", "h2"]) == 1)
        #expect(try Self.cairn(["forget", "--group-by", "colour", "--keep-last", "1"], repo: repo).status != 0)
        // Only the filtered host's snapshots are touched.
        #expect(try Self.cairn(["forget", "--host", "h1", "--group-by", "host", "--keep-last", "1"], repo: repo).status == 0)
        #expect(Self.snapshotFiles(repo).count == 3)
        #expect(try Self.cairn(["check"], repo: repo).status == 0)
    }

    @Test func tagAddRemoveSetKeepTheTreeAndRecordTheOriginal() throws {
        let tmp = TempDir()
        let repo = try Self.repository(tmp, times: ["2026-05-01T08:00:00Z", "2026-05-02T08:00:00Z"], tags: ["nightly"])
        let start = try Self.list(repo)
        let first = start[0]

        let add = try Self.cairn(["tag", "--add", "keep,x", first.id], repo: repo)
        #expect(add.status == 0, "\(add.err)")
        var now = try Self.list(repo)
        #expect(now.count == 2 && !now.contains { $0.id == first.id })
        var s = now.first { $0.time == first.time }!
        #expect(s.tags == ["nightly", "keep", "x"] && s.tree == first.tree && s.original == first.id)

        #expect(try Self.cairn(["tag", "--remove", "nightly", s.id], repo: repo).status == 0)
        now = try Self.list(repo)
        s = now.first { $0.time == first.time }!
        #expect(s.tags == ["keep", "x"] && s.tree == first.tree && s.original == first.id)   // the first ID, not the previous one

        #expect(try Self.cairn(["tag", "--set", "a,b", s.id], repo: repo).status == 0)
        now = try Self.list(repo)
        s = now.first { $0.time == first.time }!
        #expect(s.tags == ["a", "b"] && s.original == first.id)
        // Setting the same tags again changes nothing.
        let same = try Self.cairn(["tag", "--set", "a,b", s.id], repo: repo)
        #expect(same.out.contains("0 snapshot(s) changed"))
        #expect(try Self.list(repo).contains { $0.id == s.id })

        // Without IDs the filters choose: only the snapshot still tagged nightly.
        #expect(try Self.cairn(["tag", "--tag", "nightly", "--add", "y"], repo: repo).status == 0)
        now = try Self.list(repo)
        #expect(now.map(\.tags) == [["a", "b"], ["nightly", "y"]])
        #expect(now[1].original == start[1].id && now[1].tree == start[1].tree)
        // --set '' removes all tags; --set with --add is refused; nothing to do is refused.
        #expect(try Self.cairn(["tag", "--set", "", now[1].id], repo: repo).status == 0)
        #expect(try Self.list(repo)[1].tags == [])
        #expect(try Self.cairn(["tag", "--set", "a", "--add", "b"], repo: repo).status != 0)
        #expect(try Self.cairn(["tag", now[0].id], repo: repo).status != 0)
        #expect(try Self.cairn(["check"], repo: repo).status == 0)
        // A retagged snapshot still restores.
        let r = try Self.cairn(["restore", "latest", "--target", tmp.sub("out")], repo: repo)
        #expect(r.status == 0, "\(r.err)")
        #expect(Fixtures.read(tmp.sub("out") + tmp.sub("src/f")) == Array("content".utf8))
    }

    /// A tag cut short after saving the new snapshot (both files left) is finished by running it again, without a duplicate.
    @Test func anInterruptedTagIsFinishedByRunningItAgain() throws {
        let tmp = TempDir()
        let repoPath = try Self.repository(tmp, times: ["2026-05-01T08:00:00Z"], tags: ["nightly"])
        let old = try Self.list(repoPath)[0]
        let repo = try Repository.open(backend: LocalBackend(path: repoPath), password: Array("pw".utf8))
        var s = try repo.loadSnapshot(ID(hex: old.id)!)
        s.tags.append("x")
        s.original = old.id
        _ = try repo.saveSnapshot(s)   // as if killed before the delete
        #expect(try Self.list(repoPath).count == 2)
        let again = try Self.cairn(["tag", "--add", "x"], repo: repoPath)
        #expect(again.status == 0, "\(again.err)")
        let now = try Self.list(repoPath)
        #expect(now.count == 1)
        #expect(now.first?.tags == ["nightly", "x"] && now.first?.original == old.id && now.first?.id != old.id)
        #expect(try Self.cairn(["check"], repo: repoPath).status == 0)
    }

    // MARK: restic

    static let restic = "/usr/bin/restic"

    /// Random histories and random policies: `cairn forget --dry-run --json` keeps the same
    /// snapshots as `restic forget --dry-run --json` (0.14), for the same reasons, in three time zones.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: restic)))
    func forgetAgreesWithRestic() throws {
        var rng = SystemRandomNumberGenerator()
        var disagreements: [String] = []
        var removing = 0   // policies that removed something
        for zoneName in ["Europe/Berlin", "America/New_York", "UTC"] {
            let zone = TZDatabaseZone(zoneName)
            let tmp = TempDir()
            Fixtures.write(tmp.sub("src/f"), Array("x".utf8))
            // Times going back from an anchor with gaps of minutes to months; hours 1-3 are left
            // out, so no wall-clock time is skipped or repeated by a DST change (restic takes
            // --time as a local time).
            var t = Timestamp.parse("2025-06-01T12:00:00Z")!.seconds - Int64.random(in: 0..<(400 * 86400), using: &rng)
            var history: [(civil: CivilTime, tags: [String])] = []
            while history.count < 22 {
                let scale: [Int64] = [300, 3600, 6 * 3600, 86400, 3 * 86400, 10 * 86400, 40 * 86400]
                t -= Int64.random(in: 60...scale.randomElement(using: &rng)!, using: &rng)
                let c = zone.civil(t)
                guard !(1...3).contains(c.hour) else { continue }
                let tags = [["a"], ["b"], ["a", "b"], [], [], []].randomElement(using: &rng)!
                history.append((c, tags))
            }
            // restic
            let rrepo = tmp.sub("restic")
            let renv = ["RESTIC_PASSWORD": "pw", "TZ": zoneName, "RESTIC_CACHE_DIR": tmp.sub("rcache")]
            #expect(try Self.tool(Self.restic, ["-r", rrepo, "init"], env: renv).status == 0)
            for (c, tags) in history {
                let r = try Self.tool(Self.restic, ["-r", rrepo, "--no-cache", "-q", "backup", "--host", "h", "--time", "\(c)"]
                                      + tags.flatMap { ["--tag", $0] } + [tmp.sub("src")], env: renv)
                #expect(r.status == 0, "\(r.err)")
            }
            // cairn: the same history written directly (one tree, one snapshot per time).
            let crepo = try CLITests.initRepo(tmp)
            let repo = try Repository.open(backend: LocalBackend(path: crepo), password: Array("pw".utf8))
            try repo.loadIndex()
            let made = try EngineTests.backup(repo, [tmp.sub("src")])
            for (c, tags) in history {
                var s = made.snapshot
                s.time = Timestamp(seconds: zone.seconds(c)).rfc3339
                s.tags = tags
                s.hostname = "h"
                _ = try repo.saveSnapshot(s)
            }
            try repo.removeSnapshots([made.snapshotID!])

            for _ in 0..<12 {
                var args: [String] = []
                for flag in ["--keep-last", "--keep-hourly", "--keep-daily", "--keep-weekly", "--keep-monthly", "--keep-yearly"]
                where Int.random(in: 0..<10, using: &rng) < 3 { args += [flag, "\(Int.random(in: 1...6, using: &rng))"] }
                func duration() -> String {
                    let d = RetentionDuration(years: [0, 0, 0, 1].randomElement(using: &rng)!, months: Int.random(in: 0...5, using: &rng),
                                              days: Int.random(in: 0...40, using: &rng), hours: Int.random(in: 0...60, using: &rng))
                    return d.isZero ? "1d" : d.description
                }
                if Int.random(in: 0..<4, using: &rng) == 0 { args += ["--keep-within", duration()] }
                for flag in ["--keep-within-hourly", "--keep-within-daily", "--keep-within-weekly", "--keep-within-monthly", "--keep-within-yearly"]
                where Int.random(in: 0..<8, using: &rng) == 0 { args += [flag, duration()] }
                if Int.random(in: 0..<5, using: &rng) == 0 { args += ["--keep-tag", ["a", "a,b", "b"].randomElement(using: &rng)!] }
                if args.isEmpty { args = ["--keep-last", "1"] }

                let r = try Self.tool(Self.restic, ["-r", rrepo, "--no-cache", "forget", "--dry-run", "--json"] + args, env: renv)
                let c = try Self.cairn(["forget", "--dry-run", "--json"] + args, repo: crepo, tz: zoneName)
                #expect(r.status == 0 && c.status == 0, "\(r.err) \(c.err)")
                // Keep sets and reasons by instant.
                func reasons(_ out: String, restic: Bool) -> [Int64: [String]] {
                    var m: [Int64: [String]] = [:]
                    for g in Self.json(out) as? [[String: Any]] ?? [] {
                        for e in g["reasons"] as? [[String: Any]] ?? [] {
                            let time = restic ? (e["snapshot"] as? [String: Any])?["time"] as? String : e["time"] as? String
                            if let time, let ts = Timestamp.parse(time) { m[ts.seconds] = e["matches"] as? [String] ?? [] }
                        }
                    }
                    return m
                }
                let rk = reasons(r.out, restic: true), ck = reasons(c.out, restic: false)
                if rk.count < history.count { removing += 1 }
                // An empty keep set is right when nothing matches (--keep-tag a,b where no
                // snapshot has both); it only means a parse failure when restic listed no group.
                let resticGroups = (Self.json(r.out) as? [[String: Any]])?.count ?? 0
                if rk != ck || (rk.isEmpty && resticGroups == 0) {
                    disagreements.append("\(zoneName) \(args.joined(separator: " ")):\n restic \(rk.sorted { $0.key > $1.key })\n cairn  \(ck.sorted { $0.key > $1.key })\n history \(history.map { "\($0.civil) \($0.tags)" })")
                }
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(3).joined(separator: "\n"))")
        #expect(removing > 10)
    }
}
