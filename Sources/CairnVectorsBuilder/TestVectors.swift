import CairnCore
import CairnChunking
import CairnCompression
import CairnCrypto
import CairnFormat
import CairnRepository
import CairnStorage

/// Builds the repository in `format-spec/vectors/repo` from fixed inputs and seeded
/// randomness, on one thread, so every byte is reproducible. The tests rebuild it and compare.
public enum TestVectors {
    public static let password = "cairn test vector password"
    public static let seed = "cairn format v1 test vectors"
    public static let chunker = ChunkerParameters(min: 256, avg: 1024, max: 4096)
    public static let scrypt = ScryptParameters(n: 1024, r: 8, p: 1)
    public static let time = Timestamp.parse("2026-01-01T00:00:00Z")!

    /// The folder the vector snapshot backs up; the root tree holds it as a real backup of
    /// that path would (spec §11 "Root tree for paths"): root → `vector` → the files.
    public static let folder = "vector"
    /// The snapshot summary's duration (a fixed number with a fraction, spec §11).
    public static let durationSeconds = 0.25

    /// The files of the vector snapshot: path below `/vector` → content, in the order they
    /// are chunked.
    public static func files() -> [(String, [UInt8])] {
        let text = Array(String(repeating: "Cairn keeps many versions cheaply.\n", count: 40).utf8)
        let random = SeededRandom(seed: "cairn vector random file").bytes(10_000)
        return [("hello.txt", Array("hello, cairn\n".utf8)), ("random.bin", random), ("text.txt", text),
                ("zeros", [UInt8](repeating: 0, count: 8192)), ("sub/copy.txt", text)]
    }

    public struct Expected: Codable, Equatable, Sendable {
        public var password: String
        public var seed: String
        public var repositoryID: String
        public var masterKey: String
        public var snapshot: String
        public var rootTree: String
        public var files: [String: [String]]   // path in the snapshot (`/vector/…`) → data blob IDs
        public var fileSHA256: [String: String]
    }

    /// A node owned by `vector` (uid/gid 1000) with mtime = ctime = `time`; inode and device 0.
    static func node(_ name: String, _ type: NodeType, mode: UInt32, size: UInt64 = 0, links: UInt32,
                     linkTarget: String = "", content: NodeContent = .none) -> Node {
        Node(name: Array(name.utf8), type: type, mode: mode, uid: 1000, gid: 1000, user: Array("vector".utf8),
             group: Array("vector".utf8), mtime: time.nanoseconds, ctime: time.nanoseconds, size: size,
             inode: 0, device: 0, links: links, linkTarget: Array(linkTarget.utf8), content: content)
    }

    /// Writes the repository into `path` (which must not exist yet).
    public static func build(at path: String) throws -> Expected {
        let random = SeededRandom(seed: seed)
        var o = Repository.InitOptions()
        o.chunker = chunker; o.compression = .auto; o.packSize = 1 << 16; o.scrypt = scrypt
        o.hostname = "vector-host"; o.username = "vector"; o.time = time
        let repo = try Repository.initialize(backend: LocalBackend(path: path), password: Array(password.utf8), options: o, random: random)
        let chunkerRun = StreamChunker(cdc: repo.cdc)
        var blobLists: [String: [String]] = [:]
        var hashes: [String: String] = [:]
        func fileNode(_ name: String, _ content: [UInt8]) throws -> Node {
            var ids: [ID] = []
            for end in zip([0] + chunkerRun.cutPoints(content).dropLast(), chunkerRun.cutPoints(content)) {
                let piece = Array(content[end.0..<end.1])
                ids.append(try repo.saveBlob(.data, piece).id)
            }
            return node(name, .file, mode: 0o644, size: UInt64(content.count), links: 1, content: .chunks(ids))
        }
        var top: [Node] = []
        var sub: [Node] = []
        var bytesRead: UInt64 = 0
        for (p, content) in files() {
            let name = String(p.split(separator: "/").last!)
            let n = try fileNode(name, content)
            blobLists["/\(folder)/\(p)"] = n.chunks.map(\.hex)
            hashes["/\(folder)/\(p)"] = SHA256.hash(content).hex
            bytesRead += UInt64(content.count)
            if p.hasPrefix("sub/") { sub.append(n) } else { top.append(n) }
        }
        var subTree = Tree(nodes: sub); subTree.sort()
        let subID = try repo.saveTree(subTree)
        top.append(node("sub", .directory, mode: 0o755, links: 2, content: .subtree(subID)))
        top.append(node("link", .symlink, mode: 0o777, size: 9, links: 1, linkTarget: "hello.txt"))
        var vectorTree = Tree(nodes: top); vectorTree.sort()
        let vectorID = try repo.saveTree(vectorTree)
        let root = Tree(nodes: [node(folder, .directory, mode: 0o755, links: 3, content: .subtree(vectorID))])
        let rootID = try repo.saveTree(root)
        try repo.flush()
        // What a backup of /vector records (spec §11): every blob and byte this run added.
        let stats = repo.writeStats
        var summary = Snapshot.Summary()
        summary.filesNew = files().count; summary.totalFiles = files().count; summary.dirs = 2
        summary.bytesRead = bytesRead; summary.totalBytes = bytesRead
        summary.dataBlobs = stats.blobsAdded[0]; summary.treeBlobs = stats.blobsAdded[1]
        summary.bytesAdded = stats.plainBytesAdded; summary.bytesStored = stats.storedBytesAdded
        summary.durationSeconds = durationSeconds
        let snap = Snapshot(time: time, tree: rootID, paths: ["/" + folder], hostname: "vector-host", username: "vector",
                            uid: 1000, gid: 1000, tags: ["vector"], parent: nil, excludes: [],
                            programVersion: "cairn test vectors", summary: summary)
        let snapID = try repo.saveSnapshot(snap)
        return Expected(password: password, seed: seed, repositoryID: repo.id.hex, masterKey: Hex.encode(repo.key.encoded),
                        snapshot: snapID.hex, rootTree: rootID.hex, files: blobLists, fileSHA256: hashes)
    }

    /// Chunker vectors: a fixed key and seeded input, cut points for two parameter sets.
    public struct ChunkerVector: Codable, Equatable, Sendable {
        public var chunkerKey: String
        public var inputSeed: String
        public var inputLength: Int
        public var inputSHA256: String
        public var gearFirst4: [String]
        public var min: Int
        public var avg: Int
        public var max: Int
        public var cutPoints: [Int]
    }

    public static func chunkerVectors() -> [ChunkerVector] {
        let key = (0..<32).map { UInt8($0) }
        let gear = GearTable.derive(chunkerKey: key)
        func hex64(_ v: UInt64) -> String { let h = String(v, radix: 16); return String(repeating: "0", count: 16 - h.count) + h }
        var out: [ChunkerVector] = []
        for (params, length) in [(chunker, 65_536), (ChunkerParameters.default, 2 << 20)] {
            let seedText = "cairn chunker vector input"
            let input = SeededRandom(seed: seedText).bytes(length)
            let cuts = StreamChunker(cdc: FastCDC(parameters: params, gear: gear)).cutPoints(input)
            out.append(ChunkerVector(chunkerKey: Hex.encode(key), inputSeed: seedText, inputLength: length,
                                     inputSHA256: SHA256.hash(input).hex, gearFirst4: gear.values.prefix(4).map(hex64),
                                     min: params.min, avg: params.avg, max: params.max, cutPoints: cuts))
        }
        return out
    }
}
