import CairnCore
import Foundation
import Testing

/// Shell helpers for the source tests that run real tools.
enum SourceTools {
    struct Out { var status: Int32; var out: String; var err: String }

    @discardableResult
    static func sh(_ script: String, env extra: [String: String] = [:]) throws -> Out {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script]
        p.environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err; p.standardInput = FileHandle.nullDevice
        try p.run()
        let e = err.fileHandleForReading.readDataToEndOfFile()   // small; read before the larger stdout drains
        let o = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Out(status: p.terminationStatus, out: String(decoding: o, as: UTF8.self), err: String(decoding: e, as: UTF8.self))
    }

    static func which(_ tool: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        where FileManager.default.isExecutableFile(atPath: "\(dir)/\(tool)") { return "\(dir)/\(tool)" }
        return nil
    }

    /// A folder of files worth comparing: text, random bytes, a symlink, a private file, an empty folder.
    static func makeTree(_ dir: String, seed: String) {
        Fixtures.write(dir + "/a.txt", Array("hello from \(seed)\n".utf8))
        Fixtures.write(dir + "/sub/b.bin", Fixtures.random(300_000, seed: seed))
        Fixtures.write(dir + "/sub/deeper/c.txt", Array(String(repeating: "c", count: 10_000).utf8))
        Fixtures.write(dir + "/private", Array("secret".utf8))
        chmod(dir + "/private", 0o600)
        try? FileManager.default.createDirectory(atPath: dir + "/empty", withIntermediateDirectories: true)
        symlink("a.txt", dir + "/link")
    }

    /// Tags and paths of the repository's snapshots, oldest first.
    static func snapshots(_ repo: String, env: [String: String] = [:]) throws -> [(tags: [String], paths: [String])] {
        let out = try CLITests.cairn(["snapshots", "--json"], repo: repo, env: env).out
        let list = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [[String: Any]]
        return list.map { e in
            let s = e["snapshot"] as! [String: Any]
            return (s["tags"] as! [String], s["paths"] as! [String])
        }
    }

    /// Every member of a tar file as one line: name (without ./), type, mode, owner, size,
    /// sha256 and link target, sorted; the archive's own root folder left out.
    static func listing(_ tarFile: String) throws -> String {
        let py = """
            import hashlib, sys, tarfile
            rows = []
            with tarfile.open(sys.argv[1]) as t:
                for m in t.getmembers():
                    n = m.name[2:] if m.name.startswith("./") else m.name
                    n = n.rstrip("/")
                    if n in ("", "."):
                        continue
                    h = hashlib.sha256(t.extractfile(m).read()).hexdigest() if m.isfile() else ""
                    rows.append("%s %s %o %d:%d %d %s %s" % (n, m.type.decode(), m.mode & 0o7777, m.uid, m.gid, m.size if m.isfile() else 0, h, m.linkname))
            print("\\n".join(sorted(rows)))
            """
        let r = try sh("python3 -c '\(py.replacingOccurrences(of: "'", with: "'\\''"))' '\(tarFile)'")
        #expect(r.status == 0, "\(r.err)")
        return r.out
    }
}

/// `cairn backup podman-volume` / `cairn restore podman-volume` against the real podman.
@Suite(.serialized) struct PodmanSourceTests {
    /// Fails (does not skip) when podman is missing.
    static func havePodman() -> Bool {
        let found = SourceTools.which("podman") != nil
        #expect(found, "podman is not installed: scripts/deps.sh --test installs it (apt-get install podman)")
        return found
    }

    static func volumeName(_ tag: String) -> String { "cairn-test-\(tag)-\(UInt32.random(in: 0...UInt32.max))" }

    /// A new volume holding `makeTree`'s files (imported from a tar made here).
    static func makeVolume(_ name: String, _ tmp: TempDir, seed: String) throws {
        SourceTools.makeTree(tmp.sub("src-\(seed)"), seed: seed)
        let r = try SourceTools.sh("tar -C '\(tmp.sub("src-\(seed)"))' -cf '\(tmp.sub("in-\(seed).tar"))' . && podman volume create \(name) >/dev/null && podman volume import \(name) '\(tmp.sub("in-\(seed).tar"))'")
        #expect(r.status == 0, "\(r.err)")
    }

    static func listing(_ volume: String, _ tmp: TempDir) throws -> String {
        let file = tmp.sub("export-\(volume).tar")
        let r = try SourceTools.sh("podman volume export \(volume) > '\(file)'")
        #expect(r.status == 0, "\(r.err)")
        return try SourceTools.listing(file)
    }

    static func remove(_ volumes: String...) { for v in volumes { _ = try? SourceTools.sh("podman volume rm -f \(v)") } }

    @Test func aVolumeIsBackedUpAndRestoredIntoANewVolume() throws {
        guard Self.havePodman() else { return }
        let tmp = TempDir()
        let v = Self.volumeName("src"), v2 = Self.volumeName("copy")
        defer { Self.remove(v, v2) }
        try Self.makeVolume(v, tmp, seed: "one")
        let repo = try CLITests.initRepo(tmp)

        let b = try CLITests.cairn(["backup", "podman-volume", v], repo: repo)
        #expect(b.status == 0, "\(b.err)")
        let snaps = try SourceTools.snapshots(repo)
        #expect(snaps.count == 1 && snaps[0].tags == ["podman-volume", "podman-volume:\(v)"] && snaps[0].paths == ["podman-volume:\(v)"])
        #expect(try CLITests.cairn(["ls", "latest"], repo: repo).out.contains("\(v).tar"))

        let r = try CLITests.cairn(["restore", "podman-volume", "latest", "--name", v2], repo: repo)
        #expect(r.status == 0, "\(r.err)")
        let original = try Self.listing(v, tmp), restored = try Self.listing(v2, tmp)
        #expect(original.contains("sub/b.bin 0 644 0:0 300000"), "\(original)")
        #expect(original.contains("link 2 777") && original.contains("private 0 600") && original.contains("empty 5 755"), "\(original)")
        #expect(restored == original)

        // An unchanged volume adds almost nothing the second time (tar-aware cuts, same stream).
        let again = try CLITests.cairn(["--json", "backup", "podman-volume", v], repo: repo)
        #expect(again.status == 0, "\(again.err)")
        let json = try JSONSerialization.jsonObject(with: Data(again.out.utf8)) as! [[String: Any]]
        let added = (json.first?["summary"] as? [String: Any])?["bytes_added"] as? Int ?? -1
        #expect(added >= 0 && added < 4096, "\(again.out)")
        #expect(try CLITests.cairn(["check", "--read-data"], repo: repo).status == 0)
    }

    @Test func aMissingVolumeSavesNoSnapshot() throws {
        guard Self.havePodman() else { return }
        let tmp = TempDir()
        let repo = try CLITests.initRepo(tmp)
        let r = try CLITests.cairn(["backup", "podman-volume", Self.volumeName("missing")], repo: repo)
        #expect(r.status == 1)
        #expect(r.err.contains("no snapshot was saved"), "\(r.err)")
        #expect(try SourceTools.snapshots(repo).isEmpty)
    }

    @Test func replacingAVolumeTakesASafetySnapshotAndRollsBack() throws {
        guard Self.havePodman() else { return }
        let tmp = TempDir()
        let v = Self.volumeName("live")
        defer { Self.remove(v) }
        try Self.makeVolume(v, tmp, seed: "first")
        let repo = try CLITests.initRepo(tmp)
        #expect(try CLITests.cairn(["backup", "podman-volume", v], repo: repo).status == 0)
        let backedUp = try Self.listing(v, tmp)
        // The volume changes: new files imported over it.
        SourceTools.makeTree(tmp.sub("later"), seed: "later")
        Fixtures.write(tmp.sub("later/extra.txt"), Array("added after the backup".utf8))
        #expect(try SourceTools.sh("tar -C '\(tmp.sub("later"))' -cf '\(tmp.sub("later.tar"))' . && podman volume import \(v) '\(tmp.sub("later.tar"))'").status == 0)
        let changed = try Self.listing(v, tmp)
        #expect(changed != backedUp && changed.contains("extra.txt"))

        let refused = try CLITests.cairn(["restore", "podman-volume", "latest"], repo: repo)
        #expect(refused.status == 1)
        #expect(refused.err.contains("exists"), "\(refused.err)")
        #expect(try Self.listing(v, tmp) == changed)

        // A podman whose first `volume import` reads a little and fails.
        let bin = tmp.sub("bin"), flag = tmp.sub("fail-next-import")
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        let real = try #require(SourceTools.which("podman"))
        Fixtures.write(bin + "/podman", Array("""
            #!/bin/sh
            if [ "$1 $2" = "volume import" ] && [ -f '\(flag)' ]; then
              rm -f '\(flag)'; head -c 1000 >/dev/null; echo "Error: injected import failure" >&2; exit 125
            fi
            exec '\(real)' "$@"

            """.utf8))
        chmod(bin + "/podman", 0o755)
        Fixtures.write(flag, [])
        let env = ["PATH": bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")]
        let failed = try CLITests.cairn(["restore", "podman-volume", "latest", "--replace"], repo: repo, env: env)
        #expect(failed.status == 1)
        #expect(failed.err.contains("safety snapshot") && failed.err.contains("rolled back"), "\(failed.err)")
        #expect(try Self.listing(v, tmp) == changed)
        let snaps = try SourceTools.snapshots(repo)
        #expect(snaps.count == 2 && snaps[1].tags == ["safety", "podman-volume", "podman-volume:\(v)"], "\(snaps)")

        // Without the failure: replaced by the backup (the extra file is gone).
        let ok = try CLITests.cairn(["restore", "podman-volume", "latest", "--replace"], repo: repo, env: env)
        #expect(ok.status == 0, "\(ok.err)")
        #expect(try Self.listing(v, tmp) == backedUp)
        #expect(try CLITests.cairn(["check"], repo: repo).status == 0)
    }
}
