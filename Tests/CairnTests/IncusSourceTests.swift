import CairnCore
import CairnSources
import Foundation
import Testing

/// `cairn backup incus|incus-volume|incus-config` and `cairn restore incus|incus-volume`
/// against a stand-in `incus` (Tests/standins/incus.py, first on PATH): it checks arguments like
/// the Incus 6.0 client, keeps its instances in a JSON file and logs every command it receives.
/// The real daemon runs in IncusRealTests.swift (running-instance backups, --all --parallel,
/// restores, --replace with a real failing import, --skip-existing, volumes); this suite keeps
/// what only a stand-in shows: the exact command lines, an export or an import of a valid backup
/// failing at a chosen step, a newer client's `storage volume export --force`, the timing of
/// parallel exports, and incus-config's documents.
@Suite(.serialized) struct IncusSourceTests {
    /// A stand-in incus server in a temporary folder.
    final class Standin {
        let tmp = TempDir()
        var env: [String: String]
        var statePath: String { tmp.sub("state.json") }
        var logPath: String { tmp.sub("log.jsonl") }

        init(instances: [String: (status: String, files: [String: String])]) throws {
            env = ["PATH": tmp.sub("bin") + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"),
                   "INCUS_STANDIN_STATE": tmp.sub("state.json"), "INCUS_STANDIN_LOG": tmp.sub("log.jsonl")]
            try FileManager.default.createDirectory(atPath: tmp.sub("bin"), withIntermediateDirectories: true)
            let script = Fixtures.packageRoot + "/Tests/standins/incus.py"
            try FileManager.default.copyItem(atPath: script, toPath: tmp.sub("bin/incus"))
            chmod(tmp.sub("bin/incus"), 0o755)
            var insts: [String: Any] = [:]
            for (name, i) in instances { insts[name] = ["status": i.status, "files": i.files, "snapshots": [String: Any]()] }
            let state: [String: Any] = ["projects": ["default": ["instances": insts]],
                                        "volumes": ["default/vol1": ["data/a.txt": "volume file a", "b.txt": String(repeating: "b", count: 5000)]]]
            try JSONSerialization.data(withJSONObject: state).write(to: URL(fileURLWithPath: statePath))
            _ = FileManager.default.createFile(atPath: logPath, contents: Data())
        }

        var entries: [[String: Any]] {
            let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        }
        /// The commands received, each as one string.
        var commands: [String] { entries.map { ($0["argv"] as! [String]).joined(separator: " ") } }
        func clearLog() { _ = FileManager.default.createFile(atPath: logPath, contents: Data()) }

        var instances: [String: [String: Any]] {
            let s = try! JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: statePath))) as! [String: Any]
            let p = (s["projects"] as! [String: Any])["default"] as! [String: Any]
            return p["instances"] as! [String: [String: Any]]
        }
        func files(_ name: String) -> [String: String]? { instances[name]?["files"] as? [String: String] }

        /// sha256 of the stream of the first logged command starting with `prefix`.
        func sha(_ prefix: String) -> String? {
            entries.first { ($0["argv"] as! [String]).joined(separator: " ").hasPrefix(prefix) }?["sha256"] as? String
        }
    }

    static let c1Files = ["etc/hostname": "c1\n", "srv/data.txt": String(repeating: "incus data ", count: 3000)]

    func cairn(_ args: [String], _ repo: String, _ s: Standin, env extra: [String: String] = [:]) throws -> CLITests.Run {
        try CLITests.cairn(args, repo: repo, env: s.env.merging(extra) { $1 })
    }

    struct Snap { var id: String; var tags: [String]; var paths: [String] }
    func snapshots(_ repo: String, _ s: Standin) throws -> [Snap] {
        let out = try cairn(["snapshots", "--json"], repo, s).out
        let list = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [[String: Any]]
        return list.map { e in
            let snap = e["snapshot"] as! [String: Any]
            return Snap(id: e["id"] as! String, tags: snap["tags"] as! [String], paths: snap["paths"] as! [String])
        }
    }

    @Test func theStandinRefusesUnknownFlagsAndMissingInstances() throws {
        let s = try Standin(instances: ["c1": ("Stopped", Self.c1Files)])
        for (args, message) in [(["export", "c1", "-", "--bogus"], "Error: unknown flag: --bogus"),
                                (["export", "nope", "-", "--compression", "none"], "Instance not found"),
                                // As the real client (issue 14): a snapshot's copy takes no --instance-only.
                                (["copy", "c1/snap0", "c1-copy", "--instance-only"], "--instance-only can't be passed when the source is a snapshot")] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: s.tmp.sub("bin/incus"))
            p.arguments = args
            p.environment = s.env
            let err = Pipe(); p.standardError = err; p.standardOutput = Pipe()
            try p.run(); p.waitUntilExit()
            #expect(p.terminationStatus == 1)
            #expect(String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).contains(message))
        }
    }

    @Test func aRunningInstanceIsExportedThroughATemporarySnapshotAndRestoredByteForByte() throws {
        let s = try Standin(instances: ["c1": ("Running", Self.c1Files)])
        let tmp = TempDir()
        let repo = try CLITests.initRepo(tmp)
        let r = try cairn(["backup", "incus", "c1"], repo, s)
        #expect(r.status == 0, "\(r.err)")
        let cmds = s.commands
        #expect(cmds.count == 6, "\(cmds)")
        #expect(cmds[0] == "list --format json")
        let tmpName = try #require(cmds[1].split(separator: " ").last.map(String.init))
        #expect(tmpName.hasPrefix("cairn-tmp-") && tmpName.count == "cairn-tmp-".count + 8)
        #expect(cmds[1] == "snapshot create c1 \(tmpName)")
        #expect(cmds[2] == "copy c1/\(tmpName) \(tmpName)")
        #expect(cmds[3] == "export \(tmpName) - --compression none --quiet")
        #expect(cmds[4] == "delete \(tmpName) --force")
        #expect(cmds[5] == "snapshot delete c1 \(tmpName)")
        #expect(s.instances.keys.sorted() == ["c1"])
        #expect((s.instances["c1"]?["snapshots"] as? [String: Any])?.isEmpty == true)

        let snaps = try snapshots(repo, s)
        #expect(snaps.count == 1)
        #expect(snaps[0].tags == ["incus", "incus:c1"])
        #expect(snaps[0].paths == ["incus:c1"])
        let ls = try cairn(["ls", "latest"], repo, s)
        #expect(ls.out.contains("c1.tar"), "\(ls.out)")

        // Restore under a new name: the import gets exactly the bytes the export produced.
        s.clearLog()
        let restored = try cairn(["restore", "incus", "latest", "--target-name", "c1-restored"], repo, s)
        #expect(restored.status == 0, "\(restored.err)")
        #expect(s.commands == ["list --format json", "import - c1-restored"])
        #expect(s.files("c1-restored") == Self.c1Files)
        #expect(s.instances["c1-restored"]?["status"] as? String == "Stopped")
    }

    @Test func theImportReceivesWhatTheExportProduced() throws {
        let s = try Standin(instances: ["c2": ("Stopped", Self.c1Files)])
        let tmp = TempDir()
        let repo = try CLITests.initRepo(tmp)
        #expect(try cairn(["backup", "incus", "c2"], repo, s).status == 0)
        #expect(s.commands == ["list --format json", "export c2 - --compression none --quiet"])
        let exportSHA = try #require(s.sha("export c2"))
        let r = try cairn(["restore", "incus", "latest", "--name", "c2-copy", "--storage", "fast"], repo, s)
        #expect(r.status == 0, "\(r.err)")
        #expect(s.commands.last == "import - c2-copy --storage fast")
        #expect(s.sha("import - c2-copy") == exportSHA)
        #expect(s.instances["c2-copy"]?["storage"] as? String == "fast")
        // And `dump` gives the same bytes.
        let d = Process(); d.executableURL = URL(fileURLWithPath: "/bin/sh")
        d.arguments = ["-c", "CAIRN_PASSWORD=pw '\(CLITests.binary)' -r '\(repo)' --no-cache dump latest c2.tar | sha256sum"]
        let out = Pipe(); d.standardOutput = out
        try d.run(); d.waitUntilExit()
        #expect(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).hasPrefix(exportSHA))
    }

    @Test func exportFlagsAndNoSnapshot() throws {
        let s = try Standin(instances: ["c1": ("Running", Self.c1Files)])
        let tmp = TempDir()
        let repo = try CLITests.initRepo(tmp)
        let r = try cairn(["backup", "incus", "c1", "--no-snapshot", "--instance-only", "--optimized-storage", "--project", "default", "--tag", "nightly"], repo, s)
        #expect(r.status == 0, "\(r.err)")
        #expect(s.commands == ["list --format json --project default",
                               "export c1 - --compression none --quiet --instance-only --optimized-storage --project default"])
        #expect(try snapshots(repo, s).first?.tags == ["nightly", "incus-project:default", "incus", "incus:c1"])
    }

    @Test func aFailedExportSavesNoSnapshotAndCleansUp() throws {
        let s = try Standin(instances: ["c1": ("Running", Self.c1Files)])
        let tmp = TempDir()
        let repo = try CLITests.initRepo(tmp)
        let r = try cairn(["backup", "incus", "c1"], repo, s, env: ["INCUS_STANDIN_FAIL_EXPORT": "1"])
        #expect(r.status == 1)
        #expect(r.err.contains("status 1"), "\(r.err)")
        #expect(try snapshots(repo, s).isEmpty)
        let cmds = s.commands
        #expect(cmds.count == 6 && cmds[4].hasPrefix("delete cairn-tmp-") && cmds[5].hasPrefix("snapshot delete c1 cairn-tmp-"), "\(cmds)")
        #expect(s.instances.keys.sorted() == ["c1"])
        // A missing instance: no export at all, exit 1.
        s.clearLog()
        let missing = try cairn(["backup", "incus", "nope"], repo, s)
        #expect(missing.status == 1)
        #expect(missing.err.contains("no instance nope"))
        #expect(s.commands == ["list --format json"])
        #expect(try cairn(["check"], repo, s).status == 0)
    }

    @Test func replaceTakesASafetySnapshotAndRollsBackWhenTheImportFails() throws {
        let s = try Standin(instances: ["c1": ("Running", Self.c1Files)])
        let tmp = TempDir()
        let repo = try CLITests.initRepo(tmp)
        #expect(try cairn(["backup", "incus", "c1", "--no-snapshot"], repo, s).status == 0)
        let backupSHA = try #require(s.sha("export c1"))
        // The instance changes after the backup.
        let changed = ["etc/hostname": "c1\n", "srv/new.txt": "written after the backup"]
        var state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: s.statePath))) as! [String: Any]
        var projects = state["projects"] as! [String: Any], dflt = projects["default"] as! [String: Any]
        var insts = dflt["instances"] as! [String: Any], c1 = insts["c1"] as! [String: Any]
        c1["files"] = changed; insts["c1"] = c1; dflt["instances"] = insts; projects["default"] = dflt; state["projects"] = projects
        try JSONSerialization.data(withJSONObject: state).write(to: URL(fileURLWithPath: s.statePath))

        // Without --replace or --skip-existing: refused, nothing run but the listing.
        s.clearLog()
        let refused = try cairn(["restore", "incus", "latest"], repo, s)
        #expect(refused.status == 1)
        #expect(refused.err.contains("exists"))
        #expect(s.commands == ["list --format json"])

        // --skip-existing: nothing done, exit 0.
        s.clearLog()
        let skipped = try cairn(["restore", "incus", "latest", "--skip-existing"], repo, s)
        #expect(skipped.status == 0, "\(skipped.err)")
        #expect(s.commands == ["list --format json"])

        // --replace with a failing import (the first one): safety export, delete, failed
        // import, clean-up, import of the safety snapshot, start (it was running).
        s.clearLog()
        let failed = try cairn(["restore", "incus", "latest", "--replace"], repo, s, env: ["INCUS_STANDIN_FAIL_IMPORT": "1"])
        #expect(failed.status == 1)
        #expect(s.commands == ["list --format json", "export c1 - --compression none --quiet", "delete c1 --force", "import - c1",
                               "delete c1 --force", "import - c1", "start c1"])
        #expect(failed.err.contains("safety snapshot"), "\(failed.err)")
        #expect(failed.err.contains("rolled back"), "\(failed.err)")
        #expect(s.files("c1") == changed)
        #expect(s.instances["c1"]?["status"] as? String == "Running")
        let imports = s.entries.filter { ($0["argv"] as! [String]).first == "import" }
        #expect(imports.count == 2)
        #expect(imports.first?["sha256"] as? String == backupSHA)          // the failed import was fed the backup,
        #expect(imports.last?["sha256"] as? String == s.sha("export c1"))  // the rollback the safety export
        let snaps = try snapshots(repo, s)
        #expect(snaps.count == 2)
        #expect(snaps.last?.tags == ["safety", "incus", "incus:c1"])
        #expect(snaps.last?.paths == ["incus:c1"])

        // `latest` leaves safety snapshots out; --replace without failure replaces.
        s.clearLog()
        let ok = try cairn(["restore", "incus", "latest", "--replace"], repo, s, env: ["INCUS_STANDIN_FAIL_IMPORT": "0"])
        #expect(ok.status == 0, "\(ok.err)")
        #expect(s.commands == ["list --format json", "export c1 - --compression none --quiet", "delete c1 --force", "import - c1"])
        #expect(s.files("c1") == Self.c1Files)
        #expect(try snapshots(repo, s).filter { $0.tags.contains("safety") }.count == 2)
        #expect(try cairn(["check"], repo, s).status == 0)
    }

    @Test func allInstancesTwoAtATime() throws {
        var insts: [String: (status: String, files: [String: String])] = [:]
        for i in 1...4 { insts["web\(i)"] = (i % 2 == 0 ? "Stopped" : "Running", ["index.html": "site \(i) " + String(repeating: "x", count: 2000 * i)]) }
        let s = try Standin(instances: insts)
        let tmp = TempDir()
        let repo = try CLITests.initRepo(tmp)
        let r = try cairn(["backup", "incus", "--all", "--parallel", "2"], repo, s, env: ["INCUS_STANDIN_EXPORT_PAIRS": "1"])
        #expect(r.status == 0, "\(r.err)")
        let snaps = try snapshots(repo, s)
        #expect(Set(snaps.flatMap(\.paths)) == Set((1...4).map { "incus:web\($0)" }))
        #expect(snaps.allSatisfy { $0.tags.count == 2 && $0.tags[0] == "incus" })
        let exports = s.entries.filter { ($0["argv"] as! [String]).first == "export" }
        #expect(exports.count == 4)
        // Two at a time: some exports overlap in time, and never more than two.
        let spans = exports.map { ($0["start"] as! Double, $0["end"] as! Double) }
        var maxOverlap = 0
        for (a, _) in spans { maxOverlap = max(maxOverlap, spans.filter { $0.0 <= a && a < $0.1 }.count) }
        #expect(maxOverlap == 2, "\(spans)")
        #expect(s.instances.keys.sorted() == (1...4).map { "web\($0)" })   // temporary copies gone
        #expect(try cairn(["check", "--read-data"], repo, s).status == 0)
        for i in 1...4 {
            let restored = try cairn(["restore", "incus", "latest", "--tag", "incus:web\(i)", "--target-name", "back\(i)"], repo, s)
            #expect(restored.status == 0, "\(restored.err)")
            #expect(s.files("back\(i)") == insts["web\(i)"]!.files)
        }
    }

    @Test func volumesAndConfig() throws {
        let s = try Standin(instances: ["c1": ("Stopped", Self.c1Files)])
        let tmp = TempDir()
        let repo = try CLITests.initRepo(tmp)
        let v = try cairn(["backup", "incus-volume", "default/vol1", "--volume-only"], repo, s)
        #expect(v.status == 0, "\(v.err)")
        #expect(s.commands == ["storage volume export --help", "storage volume export default vol1 /proc/self/fd/1 --compression none --quiet --volume-only"])
        #expect(try snapshots(repo, s).last?.tags == ["incus-volume", "incus-volume:default/vol1"])
        #expect(try cairn(["ls", "latest"], repo, s).out.contains("default_vol1.tar"))
        #expect(try cairn(["backup", "incus-volume", "default/missing"], repo, s).status == 1)

        s.clearLog()
        let c = try cairn(["backup", "incus-config"], repo, s)
        #expect(c.status == 0, "\(c.err)")
        #expect(s.commands == ["project list --format json", "storage list --format json",
                               "profile list --format json --project default", "network list --format json --project default"])
        let snap = try #require(try snapshots(repo, s).last)
        #expect(snap.tags == ["incus-config", "incus-config:local"] && snap.paths == ["incus-config:local"])
        let d = Process(); d.executableURL = URL(fileURLWithPath: "/bin/sh")
        d.arguments = ["-c", "CAIRN_PASSWORD=pw '\(CLITests.binary)' -r '\(repo)' --no-cache dump latest incus-config.tar | tar -tf -"]
        let out = Pipe(); d.standardOutput = out
        try d.run(); d.waitUntilExit()
        #expect(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                == "projects.json\nstorage-pools.json\nprofiles/default.json\nnetworks/default.json\n")
    }

    /// Edits the stand-in's state file.
    func editState(_ s: Standin, _ change: (inout [String: Any]) -> Void) throws {
        var state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: s.statePath))) as! [String: Any]
        change(&state)
        try JSONSerialization.data(withJSONObject: state).write(to: URL(fileURLWithPath: s.statePath))
    }
    func volumes(_ s: Standin) throws -> [String: [String: String]] {
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: s.statePath))) as! [String: Any]
        return state["volumes"] as! [String: [String: String]]
    }

    @Test func volumeRestoreNewRefusedSkippedReplacedAndRolledBack() throws {
        let s = try Standin(instances: [:])
        let tmp = TempDir()
        let repo = try CLITests.initRepo(tmp)
        #expect(try cairn(["backup", "incus-volume", "default/vol1"], repo, s).status == 0)
        let backedUp = try volumes(s)["default/vol1"]
        let exportSHA = try #require(s.sha("storage volume export default vol1"))

        // Into a new name (same pool), then into another pool: the import gets the export's bytes.
        s.clearLog()
        let r = try cairn(["restore", "incus-volume", "latest", "--target-name", "vol2"], repo, s)
        #expect(r.status == 0, "\(r.err)")
        #expect(s.commands == ["storage volume list default --format json", "storage volume import default /proc/self/fd/0 vol2 --quiet"])
        #expect(s.sha("storage volume import") == exportSHA)
        #expect(try volumes(s)["default/vol2"] == backedUp)
        #expect(try cairn(["restore", "incus-volume", "latest", "--name", "fast/vol1"], repo, s).status == 0)
        #expect(try volumes(s)["fast/vol1"] == backedUp)

        // It exists now: refused without a flag, nothing changed; --skip-existing does nothing.
        try editState(s) { st in
            var v = st["volumes"] as! [String: Any]; v["default/vol1"] = ["changed.txt": "after the backup"]; st["volumes"] = v
        }
        s.clearLog()
        let refused = try cairn(["restore", "incus-volume", "latest"], repo, s)
        #expect(refused.status == 1)
        #expect(refused.err.contains("incus-volume:default/vol1 exists"), "\(refused.err)")
        #expect(s.commands == ["storage volume list default --format json"])
        let skipped = try cairn(["restore", "incus-volume", "latest", "--skip-existing"], repo, s)
        #expect(skipped.status == 0)
        #expect(try volumes(s)["default/vol1"] == ["changed.txt": "after the backup"])

        // In use: --replace refuses before exporting anything.
        try editState(s) { $0["volume_users"] = ["default/vol1": ["/1.0/instances/web"]] }
        s.clearLog()
        let inUse = try cairn(["restore", "incus-volume", "latest", "--replace"], repo, s)
        #expect(inUse.status == 1)
        #expect(inUse.err.contains("in use (/1.0/instances/web)"), "\(inUse.err)")
        #expect(s.commands == ["storage volume export --help", "storage volume list default --format json"])
        try editState(s) { $0["volume_users"] = [String: Any]() }

        // --replace with a failing import: safety export, delete, failed import, delete, import of the safety snapshot.
        s.clearLog()
        let failed = try cairn(["restore", "incus-volume", "latest", "--replace"], repo, s, env: ["INCUS_STANDIN_FAIL_IMPORT": "3"])
        #expect(failed.status == 1)
        #expect(s.commands == ["storage volume export --help", "storage volume list default --format json",
                               "storage volume export default vol1 /proc/self/fd/1 --compression none --quiet",
                               "storage volume delete default vol1", "storage volume import default /proc/self/fd/0 vol1 --quiet",
                               "storage volume delete default vol1", "storage volume import default /proc/self/fd/0 vol1 --quiet"])
        #expect(failed.err.contains("rolled back"), "\(failed.err)")
        #expect(try volumes(s)["default/vol1"] == ["changed.txt": "after the backup"])
        let snaps = try snapshots(repo, s)
        #expect(snaps.last?.tags == ["safety", "incus-volume", "incus-volume:default/vol1"])

        // And without a failure it is replaced.
        let ok = try cairn(["restore", "incus-volume", "latest", "--replace"], repo, s)
        #expect(ok.status == 0, "\(ok.err)")
        #expect(try volumes(s)["default/vol1"] == backedUp)
        #expect(try cairn(["restore", "incus-volume", "latest", "--name", "a/b/c"], repo, s).status == 1)
    }

    /// A newer client (its `storage volume export` has --force and refuses an existing target
    /// without it) gets --force; Incus 6.0's does not know the flag.
    @Test func aNewerVolumeExportGetsForce() throws {
        let s = try Standin(instances: [:])
        let tmp = TempDir()
        let repo = try CLITests.initRepo(tmp)
        let r = try cairn(["backup", "incus-volume", "default/vol1"], repo, s, env: ["INCUS_STANDIN_VOLUME_FORCE": "1"])
        #expect(r.status == 0, "\(r.err)")
        #expect(s.commands.last == "storage volume export default vol1 /proc/self/fd/1 --compression none --quiet --force")
        // The same export without --force fails on that client (so the probe matters).
        let p = try SourceTools.sh("'\(s.tmp.sub("bin/incus"))' storage volume export default vol1 /proc/self/fd/1 --compression none --quiet > /dev/null",
                                   env: s.env.merging(["INCUS_STANDIN_VOLUME_FORCE": "1"]) { $1 })
        #expect(p.status == 1 && p.err.contains("already exists"), "\(p.err)")
        #expect(Incus.volumeExportHasForce(help: Array("      --force   x\n".utf8)))
        #expect(Incus.volumeExportHasForce(help: Array("  -f, --force   x\n".utf8)))
        #expect(!Incus.volumeExportHasForce(help: Array("      --forced   x\n      --volume-only   x\n".utf8)))
    }

    @Test func commandBuilders() {
        let running = Incus.Instance(name: "c1", status: "Running")
        let plan = Incus.backupPlan(running, project: "p", instanceOnly: false, optimizedStorage: false, useSnapshot: true, temporaryName: "cairn-tmp-0")
        #expect(plan.before == [["incus", "snapshot", "create", "c1", "cairn-tmp-0", "--project", "p"],
                                ["incus", "copy", "c1/cairn-tmp-0", "cairn-tmp-0", "--project", "p"]])
        #expect(plan.export == ["incus", "export", "cairn-tmp-0", "-", "--compression", "none", "--quiet", "--project", "p"])
        #expect(plan.after == [["incus", "delete", "cairn-tmp-0", "--force", "--project", "p"],
                               ["incus", "snapshot", "delete", "c1", "cairn-tmp-0", "--project", "p"]])
        let stopped = Incus.backupPlan(Incus.Instance(name: "c1", status: "Stopped"), project: nil, instanceOnly: true,
                                       optimizedStorage: true, useSnapshot: true, temporaryName: "x")
        #expect(stopped.before.isEmpty && stopped.after.isEmpty)
        #expect(stopped.export == ["incus", "export", "c1", "-", "--compression", "none", "--quiet", "--instance-only", "--optimized-storage"])
        #expect(Incus.importing(as: "n", project: nil, storage: nil) == ["incus", "import", "-", "n"])
        #expect(SourceRef(.incusVolume, "pool/vol").fileName == "pool_vol.tar")
        #expect(SourceRef(.incus, "c1").tags == ["incus", "incus:c1"])
        let tar = try! Tar.archive([("a.json", Array("{}".utf8))], mtime: 1_700_000_000)
        #expect(tar.count == 512 * 2 + 1024)
    }
}
