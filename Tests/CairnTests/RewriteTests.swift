import CairnCore
import CairnRepository
import Foundation
import Testing

/// `rewrite`: removing paths from existing snapshots. The oracle is the archiver: a
/// rewritten snapshot's tree must be the very tree (same ID) a backup of the unchanged source
/// with the same excludes produces.
@Suite(.serialized) struct RewriteTests {
    struct Listed { var id: String; var tree: String; var tags: [String]; var original: String?; var excludes: [String] }

    static func list(_ repo: String) throws -> [Listed] {
        let r = try CLITests.cairn(["snapshots", "--json"], repo: repo)
        let all = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [[String: Any]] ?? []
        return all.compactMap { e in
            guard let id = e["id"] as? String, let s = e["snapshot"] as? [String: Any], let t = s["tree"] as? String else { return nil }
            return Listed(id: id, tree: t, tags: s["tags"] as? [String] ?? [], original: s["original"] as? String,
                          excludes: s["excludes"] as? [String] ?? [])
        }
    }

    /// The tree ID of the folder at `path` below a root tree (from `cat tree` lines "... NAME tree=ID").
    static func subtree(_ repo: String, _ root: String, path: String) throws -> String? {
        var id = root
        for comp in path.split(separator: "/") {
            let lines = try CLITests.cairn(["cat", "tree", id], repo: repo).out.split(separator: "\n")
            guard let line = lines.first(where: { $0.contains(" \(comp) tree=") }),
                  let r = line.range(of: "tree=") else { return nil }
            id = String(line[r.upperBound...].prefix(64))
        }
        return id
    }

    /// A random tree of nested folders, with `.key` files and a `cache` folder here and there.
    static func makeTree(_ root: String, seed: UInt64) {
        var rng = SplitMix(state: seed)
        for i in 0..<40 {
            let depth = rng.below(4)
            let dirs = (0..<depth).map { _ in ["a", "b", "cache", "c"][rng.below(4)] }
            let name = ["f\(i).txt", "f\(i).key", "f\(i).bin"][rng.below(3)]
            let path = ([root] + dirs + [name]).joined(separator: "/")
            Fixtures.write(path, Fixtures.random(100 + rng.below(40_000), seed: "\(seed)-\(i)"))
        }
        try? FileManager.default.createSymbolicLink(atPath: root + "/link.key", withDestinationPath: "a")
    }

    @Test(arguments: [UInt64(1), 2, 3])
    func rewrittenTreeEqualsABackupWithTheSameExcludes(seed: UInt64) throws {
        let tmp = TempDir()
        let repo = try PruneTests.initRepo(tmp)
        let src = tmp.sub("src")
        Self.makeTree(src, seed: seed)
        #expect(try CLITests.cairn(["backup", src], repo: repo).status == 0)
        let patterns = ["*.key", "cache", src + "/a/b", "f1?.bin"]
        let excludeArgs = patterns.flatMap { ["-e", $0] }
        let before = PruneTests.listing(repo)
        let dry = try CLITests.cairn(["rewrite", "--dry-run"] + excludeArgs, repo: repo)
        #expect(dry.status == 0, "\(dry.err)")
        #expect(PruneTests.listing(repo) == before, "--dry-run changed the repository")

        let r = try CLITests.cairn(["rewrite"] + excludeArgs, repo: repo)
        #expect(r.status == 0, "\(r.err)")
        // The source is unchanged: a backup with the same excludes builds the same tree.
        let b = try CLITests.cairn(["backup", src, "--tag", "fresh"] + excludeArgs, repo: repo)
        #expect(b.status == 0, "\(b.err)")
        let snaps = try Self.list(repo)
        #expect(snaps.count == 3)
        guard let original = snaps.first(where: { $0.tags.isEmpty }), let rewritten = snaps.first(where: { $0.tags == ["rewrite"] }),
              let fresh = snaps.first(where: { $0.tags == ["fresh"] }) else { Issue.record("\(snaps.map(\.tags))"); return }
        // Compared at the backed-up folder: its ancestors (/tmp) change under other processes.
        let r1 = try Self.subtree(repo, rewritten.tree, path: src), f1 = try Self.subtree(repo, fresh.tree, path: src)
        #expect(r1 != nil && r1 == f1, "the rewritten tree differs from a backup with the same excludes")
        #expect(rewritten.tree != original.tree)
        #expect(rewritten.original == original.id)
        #expect(rewritten.excludes == patterns)
        let check = try CLITests.cairn(["check", "--read-data"], repo: repo)
        #expect(check.status == 0, "\(check.out)")
        // Running it again rewrites the original into the snapshot already saved: no duplicate.
        let again = try CLITests.cairn(["rewrite"] + excludeArgs, repo: repo)
        #expect(again.status == 0, "\(again.err)")
        #expect(try Self.list(repo).map(\.id).sorted() == snaps.map(\.id).sorted())
    }

    @Test func forgetAndPruneDropTheSecretsData() throws {
        let tmp = TempDir()
        let repo = try PruneTests.initRepo(tmp)
        let src = tmp.sub("src")
        let secret = Fixtures.random(3_000, seed: "secret")   // below the chunker minimum: one blob
        let keep = Fixtures.random(300_000, seed: "keep")
        Fixtures.write(src + "/etc/id_ed25519", secret)
        Fixtures.write(src + "/data/big", keep)
        #expect(try CLITests.cairn(["backup", src, "--tag", "first"], repo: repo).status == 0)
        Fixtures.write(src + "/data/more", Fixtures.random(50_000, seed: "more"))
        #expect(try CLITests.cairn(["backup", src], repo: repo).status == 0)
        let secretID = try PruneTests.openCLIRepo(repo).blobID(secret)
        #expect(try PruneTests.openCLIRepo(repo).hasBlob(.data, secretID), "the secret is one chunk, stored")

        let r = try CLITests.cairn(["rewrite", "--forget", "--prune", "-e", "id_ed25519"], repo: repo)
        #expect(r.status == 0, "\(r.err)")
        let snaps = try Self.list(repo)
        #expect(snaps.count == 2 && snaps.allSatisfy { $0.original != nil && !$0.tags.contains("rewrite") })
        #expect(snaps.contains { $0.tags == ["first"] }, "tags are kept")
        #expect(try !PruneTests.openCLIRepo(repo).hasBlob(.data, secretID), "prune left the secret's blob")
        let check = try CLITests.cairn(["check", "--read-data"], repo: repo)
        #expect(check.status == 0, "\(check.out)")
        let out = tmp.sub("out")
        #expect(try CLITests.cairn(["restore", "latest", "--target", out], repo: repo).status == 0)
        #expect(Fixtures.read(out + src + "/data/big") == keep)
        #expect(Fixtures.read(out + src + "/data/more") != nil)
        #expect(!FileManager.default.fileExists(atPath: out + src + "/etc/id_ed25519"))
        #expect(FileManager.default.fileExists(atPath: out + src + "/etc"), "the folder stays, only the match goes")
    }

    @Test func refusesWithoutPatternsOrPruneWithoutForget() throws {
        let tmp = TempDir()
        let repo = try PruneTests.initRepo(tmp)
        #expect(try CLITests.cairn(["rewrite"], repo: repo).status != 0)
        let r = try CLITests.cairn(["rewrite", "-e", "x", "--prune"], repo: repo)
        #expect(r.status != 0 && r.err.contains("--forget"), "\(r.err)")
    }
}
