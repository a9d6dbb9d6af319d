import CairnCore
import Foundation
import Testing

/// `cairn backup docker-volume` / `cairn restore docker-volume` against a real Docker daemon:
/// the one `docker info` reaches, else a private `dockerd` started here (its own socket, data
/// and exec folders in a temporary folder; no iptables, no bridge, vfs storage) and stopped at
/// the end. The helper image is made here from Debian's static busybox (no registry).
@Suite(.serialized) struct DockerSourceTests {
    final class Daemon {
        let tmp = TempDir()
        var env: [String: String] = [:]
        var process: Process?

        /// Fails (does not skip) when Docker cannot be had.
        init?() throws {
            if try SourceTools.sh("docker info >/dev/null 2>&1").status == 0 { return }
            guard let dockerd = SourceTools.which("dockerd") else {
                Issue.record("no Docker daemon and no dockerd: scripts/deps.sh --test installs docker.io")
                return nil
            }
            let sock = tmp.sub("docker.sock")
            let p = Process()
            p.executableURL = URL(fileURLWithPath: dockerd)
            p.arguments = ["--host", "unix://" + sock, "--data-root", tmp.sub("data"), "--exec-root", tmp.sub("exec"),
                           "--pidfile", tmp.sub("docker.pid"), "--iptables=false", "--ip6tables=false", "--bridge=none",
                           "--storage-driver=vfs"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try p.run()
            process = p
            env = ["DOCKER_HOST": "unix://" + sock]
            for _ in 0..<60 {
                if try SourceTools.sh("docker info >/dev/null 2>&1", env: env).status == 0 { return }
                usleep(500_000)
            }
            Issue.record("the private dockerd did not start")
            return nil
        }

        deinit { if let process { process.terminate(); process.waitUntilExit() } }

        /// The helper image: a root file system of busybox (tar included).
        func image() throws -> String? {
            let name = "cairn-test-busybox:latest"
            if try SourceTools.sh("docker image inspect \(name) >/dev/null 2>&1", env: env).status == 0 { return name }
            guard FileManager.default.isExecutableFile(atPath: "/bin/busybox") else {
                Issue.record("/bin/busybox is missing: scripts/deps.sh --test installs busybox-static")
                return nil
            }
            let root = tmp.sub("rootfs")
            let r = try SourceTools.sh("""
                mkdir -p '\(root)/bin' && cp /bin/busybox '\(root)/bin/' && for a in sh tar; do ln -sf busybox '\(root)/bin/'$a; done \
                && tar -C '\(root)' -cf - . | docker import - \(name) >/dev/null
                """, env: env)
            #expect(r.status == 0, "\(r.err)")
            return name
        }
    }

    func listing(_ volume: String, _ image: String, _ d: Daemon, _ tmp: TempDir) throws -> String {
        let file = tmp.sub("export-\(volume).tar")
        let r = try SourceTools.sh("docker run --rm --network none -v \(volume):/v:ro \(image) tar -C /v -cf - . > '\(file)'", env: d.env)
        #expect(r.status == 0, "\(r.err)")
        return try SourceTools.listing(file)
    }

    @Test func aVolumeIsBackedUpAndRestoredThroughItsMountpointAndThroughAHelperContainer() throws {
        guard let d = try Daemon(), let image = try d.image() else { return }
        let tmp = TempDir()
        let v = "cairn-test-\(UInt32.random(in: 0...UInt32.max))"
        let volumes = [v, v + "-m", v + "-c"]
        defer { for x in volumes { _ = try? SourceTools.sh("docker volume rm -f \(x) >/dev/null 2>&1", env: d.env) } }
        SourceTools.makeTree(tmp.sub("src"), seed: "docker")
        let fill = try SourceTools.sh("""
            docker volume create \(v) >/dev/null && tar -C '\(tmp.sub("src"))' -cf - . \
            | docker run --rm -i --network none -v \(v):/v \(image) tar -C /v -xf -
            """, env: d.env)
        #expect(fill.status == 0, "\(fill.err)")
        let original = try listing(v, image, d, tmp)
        #expect(original.contains("sub/b.bin 0 644 0:0 300000") && original.contains("link 2 777"), "\(original)")
        let repo = try CLITests.initRepo(tmp)

        // Mountpoint (as root, a local volume) and helper container: the same files.
        let m = try CLITests.cairn(["backup", "docker-volume", v, "--via", "mountpoint"], repo: repo, env: d.env)
        #expect(m.status == 0, "\(m.err)")
        let c = try CLITests.cairn(["backup", "docker-volume", v, "--via", "container", "--image", image], repo: repo, env: d.env)
        #expect(c.status == 0, "\(c.err)")
        let snaps = try SourceTools.snapshots(repo)
        #expect(snaps.count == 2 && snaps.allSatisfy { $0.tags == ["docker-volume", "docker-volume:\(v)"] && $0.paths == ["docker-volume:\(v)"] })

        let rm = try CLITests.cairn(["restore", "docker-volume", "latest", "--name", v + "-m", "--via", "mountpoint"], repo: repo, env: d.env)
        #expect(rm.status == 0, "\(rm.err)")
        let rc = try CLITests.cairn(["restore", "docker-volume", "latest", "--name", v + "-c", "--via", "container", "--image", image],
                                    repo: repo, env: d.env)
        #expect(rc.status == 0, "\(rc.err)")
        #expect(try listing(v + "-m", image, d, tmp) == original)
        #expect(try listing(v + "-c", image, d, tmp) == original)

        // An existing volume is left alone without --replace; --replace goes through a safety snapshot.
        let refused = try CLITests.cairn(["restore", "docker-volume", "latest", "--name", v + "-c", "--image", image], repo: repo, env: d.env)
        #expect(refused.status == 1 && refused.err.contains("exists"), "\(refused.err)")
        let replaced = try CLITests.cairn(["restore", "docker-volume", "latest", "--name", v + "-c", "--replace", "--image", image],
                                          repo: repo, env: d.env)
        #expect(replaced.status == 0, "\(replaced.err)")
        #expect(try SourceTools.snapshots(repo).last?.tags == ["safety", "docker-volume", "docker-volume:\(v)-c"])
        #expect(try listing(v + "-c", image, d, tmp) == original)

        let missing = try CLITests.cairn(["backup", "docker-volume", "cairn-test-no-such-volume"], repo: repo, env: d.env)
        #expect(missing.status == 1)
        #expect(try SourceTools.snapshots(repo).count == 3)
        #expect(try CLITests.cairn(["check", "--read-data"], repo: repo).status == 0)
    }
}
