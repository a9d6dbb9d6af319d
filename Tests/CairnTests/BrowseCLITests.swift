import CairnCore
import CairnBrowse
import CairnFormat
import CairnRepository
import CairnStorage
import Foundation
import Testing

/// `diff`, `find` and `stats --mode` against restic 0.14 on the same random folder, backed up
/// twice by both tools (absolute paths, so both trees hold the same paths).
@Suite(.serialized) struct BrowseCLITests {
    static let restic = "/usr/bin/restic"
    static let zone = "Europe/Berlin"


    /// Two backups of one folder by both tools, and what the folder held at each.
    struct Histories {
        let tmp: TempDir
        let src: String
        let cairnRepo: String, resticRepo: String
        var cairnIDs: [String] = [], resticIDs: [String] = []   // oldest first
        var files: [[String: [UInt8]]] = []                      // regular files by path, at each backup
        var touched: [String] = []                                // files whose mtime alone changed
        let seed: UInt64
    }

    static let names = ["a", "b", "d1", "d2", "Docs", "sub", "notes.txt", "Notes.TXT", "x.log", "img.png", "a.txt", "b.log"]

    static func content(_ k: Int) -> [UInt8] { Array(String(repeating: "content \(k)\n", count: k % 5 * 40).utf8) }

    static func setMtime(_ path: String, _ rng: inout SplitMix) {
        let t = Double.random(in: 1_609_459_200...1_735_603_200, using: &rng)   // 2021-01-01 ... 2024-12-31
        try? FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: t.rounded())], ofItemAtPath: path)
    }

    /// Files, folders (some empty) and symlinks, with mtimes spread over four years.
    static func fill(_ dir: String, depth: Int, _ rng: inout SplitMix) {
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for _ in 0..<Int.random(in: 1...6, using: &rng) {
            let p = dir + "/" + names.randomElement(using: &rng)!
            guard Fixtures.lstat(p).st_mode == 0 else { continue }   // nothing there, not even a dangling symlink
            let r = Int.random(in: 0..<10, using: &rng)
            if r < 3 && depth < 3 { fill(p, depth: depth + 1, &rng) }
            else if r == 3 { try! FileManager.default.createSymbolicLink(atPath: p, withDestinationPath: "../" + names.randomElement(using: &rng)!) }
            else { Fixtures.write(p, content(Int.random(in: 0..<12, using: &rng))); setMtime(p, &rng) }
        }
        setMtime(dir, &rng)
    }

    /// Paths below src (absolute), with lstat's type.
    static func entries(_ src: String) -> [(path: String, type: mode_t)] {
        let e = FileManager.default.enumerator(atPath: src)
        var out: [(String, mode_t)] = []
        while let rel = e?.nextObject() as? String {
            let p = src + "/" + rel
            out.append((p, Fixtures.lstat(p).st_mode & S_IFMT))
        }
        return out.sorted { $0.0 < $1.0 }
    }

    static func regularFiles(_ src: String) -> [String: [UInt8]] {
        var m: [String: [UInt8]] = [:]
        for (p, t) in entries(src) where t == S_IFREG { m[p] = Fixtures.read(p) ?? [] }
        return m
    }

    /// Random changes: files removed, rewritten, touched, turned into folders or symlinks;
    /// folders removed, turned into files, given new (empty) folders and files.
    static func mutate(_ src: String, _ rng: inout SplitMix) -> [String] {
        var touched: [String] = []
        let fm = FileManager.default
        for _ in 0..<Int.random(in: 6...14, using: &rng) {
            let all = entries(src).filter { !$0.path.contains("/hl") }
            guard let (p, t) = all.randomElement(using: &rng) else { break }
            switch (t, Int.random(in: 0..<5, using: &rng)) {
            case (S_IFREG, 0): try? fm.removeItem(atPath: p)
            case (S_IFREG, 1):
                let old = Fixtures.read(p) ?? []
                var k = Int.random(in: 0..<12, using: &rng)
                while content(k) == old { k = Int.random(in: 0..<12, using: &rng) }
                Fixtures.write(p, content(k))
            case (S_IFREG, 2): try? fm.removeItem(atPath: p); fill(p, depth: 2, &rng)
            case (S_IFREG, 3): try? fm.removeItem(atPath: p); try? fm.createSymbolicLink(atPath: p, withDestinationPath: "somewhere")
            case (S_IFREG, _): setMtime(p, &rng); touched.append(p)
            case (S_IFDIR, 0): try? fm.removeItem(atPath: p)
            case (S_IFDIR, 1): try? fm.removeItem(atPath: p); Fixtures.write(p, content(Int.random(in: 0..<12, using: &rng)))
            case (S_IFDIR, 2): try? fm.createDirectory(atPath: p + "/empty\(Int.random(in: 0..<100, using: &rng))", withIntermediateDirectories: true)
            case (S_IFDIR, _): Fixtures.write(p + "/new\(Int.random(in: 0..<100, using: &rng)).txt", content(Int.random(in: 0..<12, using: &rng)))
            default: try? fm.removeItem(atPath: p); Fixtures.write(p, content(3))   // a symlink becomes a file
            }
        }
        Fixtures.write(src + "/added.log", content(Int.random(in: 1..<5, using: &rng)))   // at least one change
        return touched.filter { Fixtures.lstat($0).st_mode & S_IFMT == S_IFREG }
    }

    static func restic(_ args: [String], _ h: Histories) throws -> ForgetCLITests.Run {
        try ForgetCLITests.tool(restic, ["-r", h.resticRepo, "--no-cache"] + args,
                                env: ["RESTIC_PASSWORD": "pw", "TZ": zone, "RESTIC_CACHE_DIR": h.tmp.sub("rcache")])
    }

    static func cairn(_ args: [String], _ h: Histories) throws -> ForgetCLITests.Run {
        try ForgetCLITests.cairn(args, repo: h.cairnRepo, tz: zone)
    }

    static func backupBoth(_ h: inout Histories) throws {
        let r = try restic(["-q", "backup", h.src], h)
        #expect(r.status == 0, "\(r.err)")
        let c = try cairn(["backup", h.src], h)
        #expect(c.status == 0, "\(c.err)")
        h.files.append(regularFiles(h.src))
    }

    /// The random folder, backed up, changed, backed up again, by both tools.
    static func histories() throws -> Histories {
        try #require(FileManager.default.isExecutableFile(atPath: restic), "restic 0.14 is needed at \(restic)")
        let seed = ProcessInfo.processInfo.environment["BROWSE_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 0...UInt64.max)
        var rng = SplitMix(state: seed)
        let tmp = TempDir()
        var h = Histories(tmp: tmp, src: tmp.sub("src"), cairnRepo: try CLITests.initRepo(tmp), resticRepo: tmp.sub("restic"), seed: seed)
        #expect(try restic(["init"], h).status == 0)
        while entries(h.src).count < 12 { fill(h.src, depth: 0, &rng) }   // big enough to tell
        Fixtures.write(h.src + "/hl1", content(7))
        #expect(link(h.src + "/hl1", h.src + "/hl2") == 0)
        try backupBoth(&h)
        h.touched = mutate(h.src, &rng)
        try backupBoth(&h)
        h.cairnIDs = try ForgetCLITests.list(h.cairnRepo).map(\.id)
        let rs = ForgetCLITests.json(try restic(["snapshots", "--json"], h).out) as? [[String: Any]] ?? []
        h.resticIDs = rs.sorted { Timestamp.parse($0["time"] as! String)! < Timestamp.parse($1["time"] as! String)! }.map { $0["id"] as! String }
        #expect(h.cairnIDs.count == 2 && h.resticIDs.count == 2)
        return h
    }

    /// restic's `diff` lines ("M    /path") as "M /path".
    static func diffLines(_ text: String) -> [String] {
        text.split(separator: "\n").compactMap { line in
            let mod = line.prefix(5).trimmingCharacters(in: .whitespaces)
            guard !mod.isEmpty, mod.allSatisfy({ "+-MTU?".contains($0) }), line.dropFirst(5).hasPrefix("/") else { return nil }
            return mod + " " + line.dropFirst(5)
        }
    }

    static func ints(_ line: String) -> [Int] { line.split { !$0.isNumber }.compactMap { Int($0) } }

    @Test func diffAgreesWithRestic() throws {
        for _ in 0..<3 {
            let h = try Self.histories()
            let r = try Self.restic(["diff", h.resticIDs[0], h.resticIDs[1]], h)
            #expect(r.status == 0, "\(r.err)")
            let expected = Self.diffLines(r.out)
            #expect(!expected.isEmpty, "seed \(h.seed)\n\(r.out)\n\(Self.entries(h.src).map(\.path))")

            let text = try Self.cairn(["diff", h.cairnIDs[0], h.cairnIDs[1]], h)
            #expect(text.status == 0, "\(text.err)")
            #expect(Self.diffLines(text.out) == expected, "seed \(h.seed)\nrestic:\n\(r.out)\ncairn:\n\(text.out)")
            #expect(text.out.hasPrefix("comparing snapshot \(h.cairnIDs[0].prefix(8)) to \(h.cairnIDs[1].prefix(8)):\n\n"))

            // The summary's node counts are restic's (blob counts depend on each tool's chunks).
            func summary(_ out: String) -> [String: [Int]] {
                var m: [String: [Int]] = [:]
                for line in out.split(separator: "\n") {
                    for key in ["Files:", "Dirs:", "Others:"] where line.hasPrefix(key) { m[key] = Self.ints(String(line)) }
                }
                return m
            }
            #expect(summary(text.out) == summary(r.out), "seed \(h.seed)\n\(r.out)\n\(text.out)")

            // JSON: the same changes, then the statistics.
            let j = try Self.cairn(["diff", "--json", h.cairnIDs[0], h.cairnIDs[1]], h)
            let objects = j.out.split(separator: "\n").map { ForgetCLITests.json(String($0)) as? [String: Any] ?? [:] }
            let changes = objects.filter { $0["message_type"] as? String == "change" }.map { "\($0["modifier"]!) \($0["path"]!)" }
            #expect(changes == expected, "seed \(h.seed)")
            let stats = objects.last ?? [:]
            #expect(stats["message_type"] as? String == "statistics" && stats["source_snapshot"] as? String == h.cairnIDs[0])
            let counts = summary(r.out)
            #expect((stats["added"] as? [String: Any])?["files"] as? Int == counts["Files:"]?.first)
            #expect((stats["removed"] as? [String: Any])?["dirs"] as? Int == counts["Dirs:"]?[1])
            #expect(stats["changed_files"] as? Int == counts["Files:"]?[2])

            // SNAPSHOT:FOLDER compares below the folder: the same lines without its path.
            let sub = try Self.cairn(["diff", h.cairnIDs[0] + ":" + h.src, "latest:" + h.src], h)
            #expect(sub.status == 0, "\(sub.err)")
            #expect(Self.diffLines(sub.out) == expected.map { $0.replacingOccurrences(of: " " + h.src + "/", with: " /") }, "seed \(h.seed)")

            // --metadata adds U for the files only touched.
            let meta = try Self.cairn(["diff", "--metadata", h.cairnIDs[0], h.cairnIDs[1]], h)
            let metaLines = Set(Self.diffLines(meta.out))
            for l in expected {   // T becomes TU; +, - and M stay
                #expect(metaLines.contains(l.hasPrefix("T ") ? "TU " + l.dropFirst(2) : l), "seed \(h.seed): \(l)")
            }
            for t in h.touched where h.files[0][t] != nil && h.files[1][t] == h.files[0][t] {
                #expect(metaLines.contains("U " + t), "seed \(h.seed): \(t) touched")
                #expect(!expected.contains { $0.hasSuffix(" " + t) })
            }
        }
    }

    /// Identical subtrees are skipped by ID: only the trees on the changed path are read.
    @Test func diffReadsOnlyTheChangedPath() throws {
        let tmp = TempDir()
        let repo = try Fixtures.newRepository(tmp)
        for i in 0..<30 { Fixtures.write(tmp.sub("src/big/d\(i)/e/f"), Array("file \(i)".utf8)) }
        Fixtures.write(tmp.sub("src/changed/f"), Array("one".utf8))
        let first = try EngineTests.backup(repo, [tmp.sub("src")])
        Fixtures.write(tmp.sub("src/changed/f"), Array("two".utf8))
        let second = try EngineTests.backup(repo, [tmp.sub("src")])
        let a = try repo.loadSnapshot(first.snapshotID!).treeID!, b = try repo.loadSnapshot(second.snapshotID!).treeID!
        var changes: [DiffChange] = []
        let stats = try SnapshotDiff.run(repo, from: a, to: b) { changes.append($0) }
        #expect(changes == [DiffChange(path: tmp.sub("src/changed/f"), modifier: "M")])
        // root, each folder of the temporary path, src, changed: on both sides.
        let depth = tmp.sub("src/changed").split(separator: "/").count + 1
        #expect(stats.treesLoaded == 2 * depth)
        #expect(stats.changedFiles == 1 && stats.added.dataBlobs == 1 && stats.removed.dataBlobs == 1)
        #expect(stats.added.treeBlobs == depth && stats.removed.treeBlobs == depth)
        #expect(try SnapshotDiff.run(repo, from: a, to: a) { _ in Issue.record("no change expected") }.treesLoaded == 0)
    }

    /// Matched paths per snapshot (by position, oldest first) from `find --json` of either tool.
    static func found(_ out: String, ids: [String]) -> [Int: Set<String>] {
        var m: [Int: Set<String>] = [:]
        for g in ForgetCLITests.json(out) as? [[String: Any]] ?? [] {
            guard let id = g["snapshot"] as? String, let i = ids.firstIndex(of: id) else { continue }
            m[i] = Set((g["matches"] as? [[String: Any]] ?? []).compactMap { $0["path"] as? String })
        }
        return m
    }

    @Test func findAgreesWithRestic() throws {
        let h = try Self.histories()
        let cases: [[String]] = [
            ["*.txt"], ["-i", "NOTES.txt"], ["notes.txt"], ["d?/*"], ["**/sub/*.log"], ["/tmp/*/src/d1"], ["*.log", "a*"],
            ["Docs/a*"], ["-i", "docs/*.TXT"], ["--oldest", "2022-06-01", "*"], ["--newest", "2023-03-15 12:30", "*"],
            ["-O", "2022-01-01 00:00", "-N", "2024-06-30 23:59:59", "*.txt", "b*"], ["hl?"], ["nothing-here"],
        ]
        var nonEmpty = 0
        for args in cases {
            // restic is asked one snapshot at a time: searching several, 0.14 skips a folder
            // whose tree it already searched in another snapshot (README "find").
            var rf: [Int: Set<String>] = [:]
            for id in h.resticIDs {
                let r = try Self.restic(["find", "--json", "--snapshot", id] + args, h)
                #expect(r.status == 0, "\(args): \(r.err)")
                rf.merge(Self.found(r.out, ids: h.resticIDs)) { $0.union($1) }
            }
            let c = try Self.cairn(["find", "--json"] + args, h)
            #expect(c.status == 0, "\(args): \(c.err)")
            let cf = Self.found(c.out, ids: h.cairnIDs)
            #expect(rf == cf, "seed \(h.seed) find \(args)\nrestic \(rf)\ncairn  \(cf)")
            if !rf.isEmpty { nonEmpty += 1 }
        }
        #expect(nonEmpty >= 6, "seed \(h.seed): too few patterns matched to tell")

        // Text: a header per snapshot with matches, then the paths; -s limits to one snapshot.
        let text = try Self.cairn(["find", "*"], h)
        #expect(text.out.contains("Found matching entries in snapshot \(h.cairnIDs[0].prefix(8)) from "))
        let one = try Self.cairn(["find", "--snapshot", String(h.cairnIDs[1].prefix(10)), "*"], h)
        #expect(one.out.components(separatedBy: "Found matching entries").count == 2)
        #expect(one.out.contains("\n" + h.src + "/hl1\n"))
        let long = try Self.cairn(["find", "-l", "-s", "latest", "hl1"], h)
        #expect(long.out.contains("-rw-") && long.out.contains(" " + h.src + "/hl1"), "\(long.out)")
        #expect(try Self.cairn(["find", "--newest", "yesterday", "*"], h).status != 0)
    }

    @Test func statsModesAgreeWithResticAndTheFolder() throws {
        let h = try Self.histories()
        func stats(_ tool: String, _ args: [String]) throws -> [String: Any] {
            let run = tool == "restic" ? try Self.restic(["stats", "--json"] + args, h) : try Self.cairn(["stats", "--json"] + args, h)
            #expect(run.status == 0, "\(run.err)")
            return ForgetCLITests.json(run.out) as? [String: Any] ?? [:]
        }
        func num(_ d: [String: Any], _ k: String) -> Int? { (d[k] as? NSNumber)?.intValue }

        // restore-size: every node of every snapshot, file bytes once per hard-linked inode.
        for sel in [[], ["latest"]] {
            let r = try stats("restic", ["--mode", "restore-size"] + sel), c = try stats("cairn", ["--mode", "restore-size"] + sel)
            #expect(num(c, "total_size") == num(r, "total_size") && num(c, "total_file_count") == num(r, "total_file_count"),
                    "seed \(h.seed) \(sel): restic \(r) cairn \(c)")
            #expect(num(c, "snapshots_count") == (sel.isEmpty ? 2 : 1))
        }
        // blobs-per-file: restic's numbers for one snapshot (small files are one blob in both tools);
        // over both snapshots the file count depends on the order snapshots are read, blobs do not.
        let rl = try stats("restic", ["--mode", "blobs-per-file", "latest"]), cl = try stats("cairn", ["--mode", "blobs-per-file", "latest"])
        for k in ["total_size", "total_file_count", "total_blob_count"] { #expect(num(cl, k) == num(rl, k), "seed \(h.seed) \(k): \(rl) \(cl)") }
        let ra = try stats("restic", ["--mode", "blobs-per-file"]), ca = try stats("cairn", ["--mode", "blobs-per-file"])
        for k in ["total_size", "total_blob_count"] { #expect(num(ca, k) == num(ra, k), "seed \(h.seed) \(k): \(ra) \(ca)") }

        // From the folder itself: the distinct file contents of both backups.
        let contents = Set(h.files.flatMap(\.values))
        let nonEmpty = contents.filter { !$0.isEmpty }
        let fc = try stats("cairn", ["--mode", "files-by-contents"])
        #expect(num(fc, "total_file_count") == contents.count && num(fc, "total_size") == contents.reduce(0) { $0 + $1.count })
        #expect(num(ca, "total_blob_count") == nonEmpty.count && num(ca, "total_size") == nonEmpty.reduce(0) { $0 + $1.count })

        // raw-data: each distinct content is one data blob; stored bytes are what the packs hold.
        let raw = try stats("cairn", ["--mode", "raw-data"])
        #expect(num(raw, "data_blob_count") == nonEmpty.count, "seed \(h.seed) \(raw)")
        #expect(num(raw, "total_blob_count") == (num(raw, "data_blob_count") ?? 0) + (num(raw, "tree_blob_count") ?? -1))
        #expect((num(raw, "tree_blob_count") ?? 0) >= 4)
        #expect((num(raw, "total_uncompressed_size") ?? 0) > nonEmpty.reduce(0) { $0 + $1.count })
        var packBytes = 0
        let e = FileManager.default.enumerator(atPath: h.cairnRepo + "/data")
        while let f = e?.nextObject() as? String { packBytes += (try? FileManager.default.attributesOfItem(atPath: h.cairnRepo + "/data/" + f)[.size] as? Int) ?? 0 }
        #expect((num(raw, "total_size") ?? 0) > 0 && (num(raw, "total_size") ?? .max) < packBytes)
        #expect(((raw["compression_ratio"] as? NSNumber)?.doubleValue ?? 0) > 1)   // "content k" repeated compresses

        // Text output and the unchanged default.
        let text = try Self.cairn(["stats", "--mode", "raw-data"], h)
        #expect(text.out.hasPrefix("Stats in raw-data mode:\n") && text.out.contains("   Total Blob Count:   \(num(raw, "total_blob_count")!)\n"))
        #expect(try Self.cairn(["stats"], h).out.contains("Dedup ratio:"))
    }
}
