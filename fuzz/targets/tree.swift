// libFuzzer target: Tree.decode (Sources/CairnFormat/Tree.swift) on arbitrary bytes.
//
// Checks, for every input the decoder accepts:
//  - encode() of the decoded tree decodes to the same tree (round trip);
//  - the re-encoding is byte-identical to the input unless some node carried a non-empty
//    extension field (the one part v1 readers drop): equal length must mean equal bytes;
//  - with CAIRN_FUZZ_STRICT=1, names unique and sorted (enforced) and xattr names sorted and
//    unique (documented, not enforced by the decoder).
import CairnCore
import CairnFormat
#if canImport(Glibc)
import Glibc
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTree(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzBytes(data, size)
    guard let tree = try? Tree.decode(input) else { return 0 }
    let again = tree.encode()
    let redecoded: Tree
    do { redecoded = try Tree.decode(again) } catch { fuzzFail("re-encoded tree does not decode: \(error)") }
    if redecoded != tree { fuzzFail("decode(encode(tree)) != tree") }
    if again.count > input.count { fuzzFail("re-encoding is longer than the input (\(again.count) > \(input.count))") }
    if again.count == input.count && again != input { fuzzFail("same-length re-encoding differs from the input") }
    for n in tree.nodes { _ = n.nameString; _ = Node.isSafeName(n.name); _ = tree.node(named: n.name) }
    if fuzzStrict {
        for n in tree.nodes {
            for (a, b) in zip(n.xattrs, n.xattrs.dropFirst()) where !a.name.lexicographicallyPrecedes(b.name) {
                fuzzFail("xattrs of node \(Hex.encode(n.name)) not sorted or not unique: \(a.name) then \(b.name)")
            }
        }
    }
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzTreeInitialize(_ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    writeSeedsIfAsked(treeSeeds(), vectors: { $0.treeBlobs })
    return 0
}

func treeSeeds() -> [[UInt8]] {
    let id = { (b: UInt8) in ID(seedID(b)) }
    let file = Node(name: Array("a.txt".utf8), type: .file, mode: 0o644, uid: 1000, gid: 1000,
                    user: Array("alice".utf8), group: Array("staff".utf8), mtime: 1_763_761_579_123_456_789,
                    ctime: 1_763_761_579_000_000_000, size: 150_000, inode: 42, device: 2049, links: 1,
                    xattrs: [Xattr(name: Array("user.a".utf8), value: [1, 2, 3]),
                             Xattr(name: Array("user.b".utf8), value: [])],
                    content: .chunks([id(1), id(2), id(3)]))
    let dir = Node(name: Array("dir".utf8), type: .directory, mode: 0o755, size: 0, inode: 7, links: 2,
                   content: .subtree(id(9)))
    let link = Node(name: Array("link".utf8), type: .symlink, mode: 0o777, linkTarget: Array("../a.txt".utf8))
    let empty = Node(name: Array("empty".utf8), type: .file, mode: 0o600, content: .chunks([]))
    let dev = Node(name: Array("null".utf8), type: .charDevice, mode: 0o666, rdev: 0x0103)
    let fifo = Node(name: Array("pipe".utf8), type: .fifo, flags: Node.flagDamaged)
    let raw = Node(name: [0xFF, 0xFE, 0x80], type: .file, content: .chunks([id(200)]))
    func tree(_ nodes: [Node]) -> [UInt8] { var t = Tree(nodes: nodes); t.sort(); return t.encode() }
    var withExtension = tree([link])
    // The same tree with a 3-byte extension on its node (the last field).
    withExtension.removeLast(4); withExtension += [3, 0, 0, 0, 0xAA, 0xBB, 0xCC]
    return [
        tree([]),
        tree([file]),
        tree([dir]),
        tree([link]),
        tree([file, dir, link, empty, dev, fifo, raw]),
        withExtension,
    ]
}
