import CairnCore
import CairnCrypto
import CairnEngine
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
        for (name, bytes) in committed { #expect(rebuilt[name] == bytes, "\(name) differs") }
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
        for (path, hash) in recorded.fileSHA256 {
            let node = try repo.node(at: path, root: snap.treeID!)
            #expect(node.chunks.map(\.hex) == recorded.files[path])
            var content: [UInt8] = []
            try repo.dump(node) { content += $0 }
            #expect(SHA256.hash(content).hex == hash)
        }
        #expect(try Checker(repository: repo).run(readData: true).healthy)
    }
}
