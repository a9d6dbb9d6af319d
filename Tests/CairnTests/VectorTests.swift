import CairnCore
import CairnCrypto
import CairnCheck
import CairnTree
import CairnVectorsBuilder
import CairnFormat
import CairnRepository
import CairnStorage
import Foundation
import Testing

@Suite struct VectorTests {
    let vectors = Fixtures.packageRoot + "/format-spec/vectors"

    static func files(under root: String) -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        let e = FileManager.default.enumerator(atPath: root)!
        while let p = e.nextObject() as? String {
            var dir: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + p, isDirectory: &dir), !dir.boolValue {
                out[p] = Fixtures.read(root + "/" + p)
            }
        }
        return out
    }

    @Test func rebuildingTheVectorRepositoryGivesTheSameBytes() throws {
        let tmp = TempDir()
        let expected = try TestVectors.build(at: tmp.sub("repo"))
        let committed = Self.files(under: vectors + "/repo")
        let rebuilt = Self.files(under: tmp.sub("repo"))
        #expect(committed.count >= 6)
        #expect(Set(committed.keys) == Set(rebuilt.keys))
        for (name, bytes) in committed {
            let same = rebuilt[name] == bytes   // a Bool: the bytes themselves would flood the log
            #expect(same, "\(name) differs")
        }
        let recorded = try JSONDecoder().decode(TestVectors.Expected.self, from: Data(contentsOf: URL(fileURLWithPath: vectors + "/repo.json")))
        #expect(recorded == expected)
    }

    @Test func theCommittedRepositoryReadsBack() throws {
        let recorded = try JSONDecoder().decode(TestVectors.Expected.self, from: Data(contentsOf: URL(fileURLWithPath: vectors + "/repo.json")))
        let repo = try Repository.open(backend: LocalBackend(path: vectors + "/repo"), password: Array(recorded.password.utf8))
        #expect(Hex.encode(repo.key.encoded) == recorded.masterKey)
        #expect(repo.id.hex == recorded.repositoryID)
        try repo.loadIndex()
        let snap = try repo.loadSnapshot(ID(hex: recorded.snapshot)!)
        #expect(snap.tree == recorded.rootTree)
        // Laid out as a backup of /vector (spec §11): the root holds only the folder `vector`.
        #expect(snap.paths == ["/vector"])
        let root = try repo.loadTree(snap.treeID!)
        #expect(root.nodes.map(\.nameString) == ["vector"] && root.nodes.first?.type == .directory)
        #expect(Set(recorded.fileSHA256.keys) == Set(TestVectors.files().map { "/vector/" + $0.0 }))
        for (path, hash) in recorded.fileSHA256 {
            let node = try repo.node(at: path, root: snap.treeID!)
            #expect(node.chunks.map(\.hex) == recorded.files[path])
            var content: [UInt8] = []
            try repo.dump(node) { content += $0 }
            #expect(SHA256.hash(content).hex == hash)
        }
        #expect(try Checker(repository: repo).run(readData: true).healthy)
    }

    /// The summary says what the run added (spec §11): every blob and plain byte in the index,
    /// every byte of the packs, and a duration with a fraction.
    @Test func theVectorSnapshotsSummaryIsTrue() throws {
        let recorded = try JSONDecoder().decode(TestVectors.Expected.self, from: Data(contentsOf: URL(fileURLWithPath: vectors + "/repo.json")))
        let repo = try Repository.open(backend: LocalBackend(path: vectors + "/repo"), password: Array(recorded.password.utf8))
        let json = try repo.loadFile(.snapshot, ID(hex: recorded.snapshot)!)
        let summary = try Snapshot.decode(json).summary
        var blobs: [BlobEntry] = []
        for name in try repo.list(.index) { blobs += try IndexFile.decode(try repo.loadFile(.index, name)).packs.flatMap(\.blobs) }
        #expect(summary.dataBlobs == blobs.filter { $0.type == .data }.count)
        #expect(summary.treeBlobs == blobs.filter { $0.type == .tree }.count)
        #expect(summary.treeBlobs == 3 && summary.dataBlobs == 13)
        #expect(summary.bytesAdded == blobs.reduce(0) { $0 + UInt64($1.plainLength) })
        let packBytes = try repo.backend.list(.pack).reduce(UInt64(0)) { $0 + $1.size }
        #expect(summary.bytesStored == packBytes && packBytes > 0)
        let content = UInt64(TestVectors.files().reduce(0) { $0 + $1.1.count })
        #expect(summary.bytesRead == content && summary.totalBytes == content)
        #expect(summary.filesNew == 5 && summary.totalFiles == 5 && summary.dirs == 2 && summary.errors == 0)
        #expect(String(decoding: json, as: UTF8.self).contains("\"duration_seconds\":0.25,"))
        // The spec (§16.2) gives the payload word for word, so a second writer can check its own.
        let spec = try String(contentsOfFile: Fixtures.packageRoot + "/format-spec/README.md", encoding: .utf8)
        #expect(spec.contains("```\n" + String(decoding: json, as: UTF8.self) + "\n```"), "§16.2's snapshot payload differs from the vector's")
    }

    /// The CLI finds the files where a backup of /vector puts them.
    @Test func theCLIDumpsAndListsTheVectorSnapshotByItsPaths() throws {
        let recorded = try JSONDecoder().decode(TestVectors.Expected.self, from: Data(contentsOf: URL(fileURLWithPath: vectors + "/repo.json")))
        let tmp = TempDir()
        // A copy: commands write lock files, and the committed folder must not change.
        try FileManager.default.copyItem(atPath: vectors + "/repo", toPath: tmp.sub("repo"))
        let dump = try CLITests.cairn(["dump", "latest", "/vector/hello.txt"], repo: tmp.sub("repo"), password: recorded.password)
        #expect(dump.status == 0, "\(dump.err)")
        #expect(dump.out == "hello, cairn\n")
        let ls = try CLITests.cairn(["ls", "latest"], repo: tmp.sub("repo"), password: recorded.password)
        #expect(ls.status == 0, "\(ls.err)")
        #expect(ls.out.split(separator: "\n").map(String.init).sorted()
                == ["/vector", "/vector/hello.txt", "/vector/link", "/vector/random.bin", "/vector/sub", "/vector/sub/copy.txt",
                    "/vector/text.txt", "/vector/zeros"])
        let copy = try CLITests.cairn(["dump", "latest", "/vector/sub/copy.txt"], repo: tmp.sub("repo"), password: recorded.password)
        #expect(copy.out == String(repeating: "Cairn keeps many versions cheaply.\n", count: 40))
    }
}
