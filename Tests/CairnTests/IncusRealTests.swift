import CairnCore
import Foundation
import Testing

/// `cairn backup incus|incus-volume` and `cairn restore incus|incus-volume` against a REAL
/// Incus daemon: scripts/test-stores/incusd.sh starts incusd when it does not answer, makes a
/// `dir` pool and imports a busybox image; each test works in an Incus project of its own
/// (cairn-test-…), with containers made from that image, and deletes it at the end.
/// IncusSourceTests.swift keeps a stand-in client only for what cannot be shown here: the
/// exact command lines, failures injected at a chosen step (a failed export; a failed import
/// of a valid backup), a newer client's `--force`, and the timing of parallel exports.
/// Locally these tests are skipped (with the script's reason) when incusd cannot start; with
/// CI=true they fail instead.
enum IncusDaemon {
    static let isCI = ProcessInfo.processInfo.environment["CI"] == "true"
    static let image = "cairn-test-busybox"

    /// The script's result, run once for the suite.
    static let setup: (ok: Bool, message: String) = {
        let r = try? SourceTools.sh("'\(Fixtures.packageRoot)/scripts/test-stores/incusd.sh'", env: ["CAIRN_INCUS_IMAGE": image])
        let message = r.map { $0.err } ?? "could not run scripts/test-stores/incusd.sh"
        if r?.status != 0 { FileHandle.standardError.write(Data("IncusRealTests: incusd.sh failed:\n\(message)\n".utf8)) }
        return (r?.status == 0, message)
    }()
    static var shouldRun: Bool { isCI || setup.ok }
}

@Suite(.serialized, .enabled(if: IncusDaemon.shouldRun, "incusd could not start: see scripts/test-stores/incusd.sh's message above"))
struct IncusRealTests {
    static let image = IncusDaemon.image
    static var setup: (ok: Bool, message: String) { IncusDaemon.setup }

    /// Fails (under CI, where the suite runs anyway) when the daemon is not there.
    static func ready() -> Bool {
        #expect(setup.ok, "incusd could not start: \(setup.message)")
        return setup.ok
    }

    @discardableResult
    static func incus(_ args: String, expect ok: Bool = true) throws -> SourceTools.Out {
        let r = try SourceTools.sh("incus " + args)
        if ok { #expect(r.status == 0, "incus \(args): \(r.err)") }
        return r
    }

    /// An Incus project of its own (images and profiles from `default`), removed with all it
    /// holds when the value is released.
    final class Project {
        let name = "cairn-test-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        var p: String { "--project " + name }

        init() throws {
            try IncusRealTests.incus("project create \(name) -c features.images=false -c features.profiles=false")
        }

        deinit {
            let p = p
            if let list = try? SourceTools.sh("incus list --format csv -c n \(p)").out {
                for n in list.split(separator: "\n") { _ = try? SourceTools.sh("incus delete --force '\(n)' \(p)") }
            }
            if let vols = try? SourceTools.sh("incus storage volume list default --format csv -c tn \(p)").out {
                for line in vols.split(separator: "\n") where line.hasPrefix("custom,") {
                    _ = try? SourceTools.sh("incus storage volume delete default '\(line.dropFirst("custom,".count))' \(p)")
                }
            }
            _ = try? SourceTools.sh("incus project delete \(name)")
        }

        /// A busybox container holding `files` (path inside → bytes), running or stopped.
        func container(_ name: String, running: Bool, files: [String: [UInt8]], _ tmp: TempDir) throws {
            try IncusRealTests.incus("init \(IncusRealTests.image) \(name) --no-profiles --storage default --quiet \(p)")
            try push(name, files, tmp)
            if running { try IncusRealTests.incus("start \(name) \(p)") }
        }

        func push(_ name: String, _ files: [String: [UInt8]], _ tmp: TempDir) throws {
            for (path, bytes) in files {
                let local = tmp.sub("push-" + String(UInt32.random(in: 0...UInt32.max)))
                Fixtures.write(local, bytes)
                try IncusRealTests.incus("file push '\(local)' '\(name)\(path)' --create-dirs --quiet \(p)")
            }
        }

        /// The file's bytes, read out of the instance (running or stopped).
        func pull(_ name: String, _ path: String, _ tmp: TempDir) throws -> [UInt8]? {
            let local = tmp.sub("pull-" + String(UInt32.random(in: 0...UInt32.max)))
            let r = try IncusRealTests.incus("file pull '\(name)\(path)' '\(local)' --quiet \(p)", expect: false)
            return r.status == 0 ? Fixtures.read(local) : nil
        }

        /// name → status of every instance of the project.
        func instances() throws -> [String: String] {
            let out = try IncusRealTests.incus("list --format json \(p)").out
            let list = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [[String: Any]]
            return Dictionary(uniqueKeysWithValues: list.map { ($0["name"] as! String, $0["status"] as! String) })
        }

        func snapshotsOf(_ instance: String) throws -> [String] {
            let out = try IncusRealTests.incus("query '/1.0/instances/\(instance)/snapshots?project=\(name)'").out
            return try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String]
        }

        /// Custom volumes of pool default: name → used_by.
        func volumes() throws -> [String: [String]] {
            let out = try IncusRealTests.incus("storage volume list default --format json \(p)").out
            let list = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [[String: Any]]
            return Dictionary(uniqueKeysWithValues: list.filter { $0["type"] as? String == "custom" }
                .map { ($0["name"] as! String, ($0["used_by"] as? [String]) ?? []) })
        }
    }

    /// `cairn dump SNAPSHOT FILE` into a local file.
    static func dump(_ repo: String, _ snapshot: String, _ file: String, to local: String) throws {
        let r = try SourceTools.sh("CAIRN_PASSWORD=pw '\(CLITests.binary)' -r '\(repo)' --no-cache -q dump \(snapshot) '\(file)' > '\(local)'")
        #expect(r.status == 0, "\(r.err)")
    }

    /// One member of a tar file (nil when it has none of that name).
    static func member(_ tarFile: String, _ name: String) throws -> String? {
        let r = try SourceTools.sh("tar -xOf '\(tarFile)' '\(name)'")
        return r.status == 0 ? r.out : nil
    }

    /// A snapshot tagged like a backup of `kind:name` whose stream is not a backup at all: its
    /// import fails for real (the client and the daemon refuse it).
    static func bogusSnapshot(_ repo: String, kind: String, name: String, _ tmp: TempDir) throws -> String {
        let junk = tmp.sub("junk")
        Fixtures.write(junk, Fixtures.random(70_000, seed: "not a backup"))
        let r = try SourceTools.sh("CAIRN_PASSWORD=pw '\(CLITests.binary)' -r '\(repo)' --no-cache -q backup --stdin "
                                   + "--stdin-filename x.tar --tag '\(kind),\(kind):\(name)' < '\(junk)'")
        #expect(r.status == 0, "\(r.err)")
        let snaps = try SourceTools.snapshots(repo)
        #expect(snaps.last?.tags == [kind, "\(kind):\(name)"])
        let out = try CLITests.cairn(["snapshots", "--json"], repo: repo).out
        let list = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [[String: Any]]
        return list.last!["id"] as! String
    }

    static let files: [String: [UInt8]] = [
        "/srv/data.bin": Fixtures.random(300_000, seed: "incus real data"),
        "/etc/app.conf": Array("answer = 42\n".utf8),
        "/srv/deep/er/empty": [],
    ]

    @Test func aRunningInstanceIsBackedUpThroughATemporarySnapshotAndRestoredUnderANewName() throws {
        guard Self.ready() else { return }
        let tmp = TempDir()
        let proj = try Project()
        try proj.container("web", running: true, files: Self.files, tmp)
        let repo = try CLITests.initRepo(tmp)

        let b = try CLITests.cairn(["backup", "incus", "web", "--project", proj.name], repo: repo)
        #expect(b.status == 0, "\(b.err)")
        let snaps = try SourceTools.snapshots(repo)
        #expect(snaps.count == 1)
        #expect(snaps.first?.tags == ["incus-project:\(proj.name)", "incus", "incus:web"])
        #expect(snaps.first?.paths == ["incus:web"])
        // Through the temporary copy (its name is in the export), and both are gone now.
        try Self.dump(repo, "latest", "web.tar", to: tmp.sub("web.tar"))
        let index = try #require(try Self.member(tmp.sub("web.tar"), "backup/index.yaml"))
        #expect(index.contains("name: cairn-tmp-"), "\(index)")
        #expect(try Self.member(tmp.sub("web.tar"), "backup/container/rootfs/etc/app.conf") == "answer = 42\n")
        #expect(try proj.instances() == ["web": "Running"])
        #expect(try proj.snapshotsOf("web") == [])

        let r = try CLITests.cairn(["restore", "incus", "latest", "--target-name", "web-restored", "--project", proj.name], repo: repo)
        #expect(r.status == 0, "\(r.err)")
        #expect(try proj.instances() == ["web": "Running", "web-restored": "Stopped"])
        for (path, bytes) in Self.files {
            #expect(try proj.pull("web-restored", path, tmp) == bytes, "\(path)")
        }
        // The restored container starts.
        try Self.incus("start web-restored \(proj.p)")
        #expect(try Self.incus("exec web-restored \(proj.p) -- cat /etc/app.conf").out == "answer = 42\n")
    }

    @Test func allInstancesOfAProjectTwoAtATime() throws {
        guard Self.ready() else { return }
        let tmp = TempDir()
        let proj = try Project()
        var content: [String: [UInt8]] = [:]
        for (i, name) in ["a1", "a2", "a3"].enumerated() {
            content[name] = Fixtures.random(50_000 * (i + 1), seed: name)
            try proj.container(name, running: i != 1, files: ["/srv/own.bin": content[name]!], tmp)
        }
        let repo = try CLITests.initRepo(tmp)
        let b = try CLITests.cairn(["backup", "incus", "--all", "--parallel", "2", "--project", proj.name], repo: repo)
        #expect(b.status == 0, "\(b.err)")
        let snaps = try SourceTools.snapshots(repo)
        #expect(Set(snaps.flatMap(\.paths)) == ["incus:a1", "incus:a2", "incus:a3"])
        #expect(try proj.instances() == ["a1": "Running", "a2": "Stopped", "a3": "Running"])   // no cairn-tmp-… left
        for name in ["a1", "a3"] { #expect(try proj.snapshotsOf(name) == []) }
        #expect(try CLITests.cairn(["check", "--read-data"], repo: repo).status == 0)
        for name in ["a1", "a2", "a3"] {
            let r = try CLITests.cairn(["restore", "incus", "latest", "--tag", "incus:\(name)", "--target-name", "\(name)-back",
                                        "--project", proj.name], repo: repo)
            #expect(r.status == 0, "\(r.err)")
            #expect(try proj.pull("\(name)-back", "/srv/own.bin", tmp) == content[name], "\(name)")
        }
    }

    @Test func replaceTakesASafetySnapshotSkipExistingLeavesItAndAFailedImportRollsBack() throws {
        guard Self.ready() else { return }
        let tmp = TempDir()
        let proj = try Project()
        let v1 = Array("version 1\n".utf8), v2 = Array("version 2, after the backup\n".utf8)
        try proj.container("db", running: true, files: ["/srv/state": v1], tmp)
        let repo = try CLITests.initRepo(tmp)
        #expect(try CLITests.cairn(["backup", "incus", "db", "--project", proj.name], repo: repo).status == 0)
        try proj.push("db", ["/srv/state": v2], tmp)

        let refused = try CLITests.cairn(["restore", "incus", "latest", "--project", proj.name], repo: repo)
        #expect(refused.status == 1)
        #expect(refused.err.contains("incus:db exists"), "\(refused.err)")
        let skipped = try CLITests.cairn(["restore", "incus", "latest", "--skip-existing", "--project", proj.name], repo: repo)
        #expect(skipped.status == 0, "\(skipped.err)")
        #expect(try proj.pull("db", "/srv/state", tmp) == v2)
        #expect(try proj.instances() == ["db": "Running"])

        // --replace: the running instance is saved into a safety snapshot, then replaced (stopped).
        let replaced = try CLITests.cairn(["restore", "incus", "latest", "--replace", "--project", proj.name], repo: repo)
        #expect(replaced.status == 0, "\(replaced.err)")
        #expect(replaced.err.contains("safety snapshot"), "\(replaced.err)")
        #expect(try proj.instances() == ["db": "Stopped"])
        #expect(try proj.pull("db", "/srv/state", tmp) == v1)
        var snaps = try SourceTools.snapshots(repo)
        #expect(snaps.count == 2 && snaps.last?.tags == ["safety", "incus", "incus:db"] && snaps.last?.paths == ["incus:db"])
        try Self.dump(repo, "latest", "db.tar", to: tmp.sub("safety.tar"))   // `latest` of any kind: the safety snapshot
        #expect(try Self.member(tmp.sub("safety.tar"), "backup/container/rootfs/srv/state") == String(decoding: v2, as: UTF8.self))

        // A restore whose import fails for real (the stream is no backup): the instance is
        // imported back from the new safety snapshot and started again, as it was running.
        try Self.incus("start db \(proj.p)")
        let v3 = Array("version 3\n".utf8)
        try proj.push("db", ["/srv/state": v3], tmp)
        let bogus = try Self.bogusSnapshot(repo, kind: "incus", name: "db", tmp)
        let failed = try CLITests.cairn(["restore", "incus", bogus, "--replace", "--project", proj.name], repo: repo)
        #expect(failed.status == 1)
        #expect(failed.err.contains("rolled back"), "\(failed.err)")
        #expect(try proj.instances() == ["db": "Running"])
        #expect(try proj.pull("db", "/srv/state", tmp) == v3)
        snaps = try SourceTools.snapshots(repo)
        #expect(snaps.filter { $0.tags.contains("safety") }.count == 2)
    }

    @Test func aCustomVolumeIsBackedUpAndRestoredNewRefusedSkippedReplacedAndRolledBack() throws {
        guard Self.ready() else { return }
        let tmp = TempDir()
        let proj = try Project()
        try proj.container("user", running: true, files: [:], tmp)
        try Self.incus("storage volume create default media \(proj.p)")
        let volFiles: [String: [UInt8]] = ["/a.txt": Array("volume file\n".utf8), "/sub/b.bin": Fixtures.random(120_000, seed: "vol")]
        try Self.incus("storage volume attach default media user /mnt/media \(proj.p)")
        try proj.push("user", Dictionary(uniqueKeysWithValues: volFiles.map { ("/mnt/media" + $0.key, $0.value) }), tmp)
        try Self.incus("storage volume detach default media user \(proj.p)")
        let repo = try CLITests.initRepo(tmp)

        let b = try CLITests.cairn(["backup", "incus-volume", "default/media", "--project", proj.name], repo: repo)
        #expect(b.status == 0, "\(b.err)")
        #expect(try SourceTools.snapshots(repo).last?.tags == ["incus-project:\(proj.name)", "incus-volume", "incus-volume:default/media"])
        // The stream is the volume's backup tarball (Incus 6.0 wrote progress text where `-` was asked for).
        try Self.dump(repo, "latest", "default_media.tar", to: tmp.sub("media.tar"))
        #expect(try Self.member(tmp.sub("media.tar"), "backup/volume/a.txt") == "volume file\n")
        #expect(!FileManager.default.fileExists(atPath: Fixtures.packageRoot + "/-"))

        /// The volume's files, read through a container it is attached to.
        func contents(_ volume: String) throws -> [String: [UInt8]?] {
            try Self.incus("storage volume attach default \(volume) user /mnt/check \(proj.p)")
            defer { _ = try? Self.incus("storage volume detach default \(volume) user \(proj.p)") }
            var out: [String: [UInt8]?] = [:]
            for path in volFiles.keys { out[path] = try proj.pull("user", "/mnt/check" + path, tmp) }
            return out
        }
        let original = volFiles.mapValues { Optional($0) }

        let r = try CLITests.cairn(["restore", "incus-volume", "latest", "--target-name", "media2", "--project", proj.name], repo: repo)
        #expect(r.status == 0, "\(r.err)")
        #expect(try contents("media2") == original)

        // It exists: refused, or skipped, and left as it is.
        try Self.incus("storage volume attach default media user /mnt/media \(proj.p)")
        try proj.push("user", ["/mnt/media/a.txt": Array("changed\n".utf8)], tmp)
        let refused = try CLITests.cairn(["restore", "incus-volume", "latest", "--project", proj.name], repo: repo)
        #expect(refused.status == 1)
        #expect(refused.err.contains("incus-volume:default/media exists"), "\(refused.err)")
        #expect(try CLITests.cairn(["restore", "incus-volume", "latest", "--skip-existing", "--project", proj.name], repo: repo).status == 0)
        // Attached to a container: --replace refuses before doing anything.
        let inUse = try CLITests.cairn(["restore", "incus-volume", "latest", "--replace", "--project", proj.name], repo: repo)
        #expect(inUse.status == 1)
        #expect(inUse.err.contains("in use"), "\(inUse.err)")
        #expect(try proj.pull("user", "/mnt/media/a.txt", tmp) == Array("changed\n".utf8))
        try Self.incus("storage volume detach default media user \(proj.p)")
        #expect(try SourceTools.snapshots(repo).count == 1)

        // Detached: --replace saves it, then replaces it.
        let replaced = try CLITests.cairn(["restore", "incus-volume", "latest", "--replace", "--project", proj.name], repo: repo)
        #expect(replaced.status == 0, "\(replaced.err)")
        #expect(try contents("media") == original)
        let snaps = try SourceTools.snapshots(repo)
        #expect(snaps.count == 2 && snaps.last?.tags == ["safety", "incus-volume", "incus-volume:default/media"])
        try Self.dump(repo, "latest", "default_media.tar", to: tmp.sub("safety.tar"))
        #expect(try Self.member(tmp.sub("safety.tar"), "backup/volume/a.txt") == "changed\n")

        // A failing import (no backup in the stream): rolled back from the safety snapshot.
        let bogus = try Self.bogusSnapshot(repo, kind: "incus-volume", name: "default/media", tmp)
        let failed = try CLITests.cairn(["restore", "incus-volume", bogus, "--replace", "--project", proj.name], repo: repo)
        #expect(failed.status == 1)
        #expect(failed.err.contains("rolled back"), "\(failed.err)")
        #expect(try contents("media") == original)
        #expect(try proj.volumes().keys.sorted() == ["media", "media2"])
    }
}
