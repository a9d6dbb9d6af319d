import CairnCore

/// What a node is. Values are on disk.
public enum NodeType: UInt8, Sendable, CustomStringConvertible {
    case file = 1, directory = 2, symlink = 3, charDevice = 4, blockDevice = 5, fifo = 6, socket = 7
    public var description: String {
        switch self {
        case .file: return "file"
        case .directory: return "dir"
        case .symlink: return "symlink"
        case .charDevice: return "chardev"
        case .blockDevice: return "blockdev"
        case .fifo: return "fifo"
        case .socket: return "socket"
        }
    }
}

/// What a node's content is.
public enum NodeContent: Sendable, Equatable {
    /// No content (symlinks, devices, fifos, sockets).
    case none
    /// A file's data blobs, in order.
    case chunks([ID])
    /// A directory's subtree.
    case subtree(ID)
    // Kind 3 is reserved for tar-aware stream content (a later format revision).

    var kind: UInt8 {
        switch self { case .none: return 0; case .chunks: return 1; case .subtree: return 2 }
    }
}

public struct Xattr: Sendable, Equatable {
    public var name: [UInt8]
    public var value: [UInt8]
    public init(name: [UInt8], value: [UInt8]) { self.name = name; self.value = value }
}

/// One entry of a tree. Names are raw bytes (file names need not be UTF-8).
public struct Node: Sendable, Equatable {
    public var name: [UInt8]
    public var type: NodeType
    public var mode: UInt32          // st_mode & 0o7777
    public var uid: UInt32
    public var gid: UInt32
    public var user: [UInt8]
    public var group: [UInt8]
    public var mtime: Int64          // ns since epoch
    public var ctime: Int64
    public var size: UInt64
    public var inode: UInt64
    public var device: UInt64
    public var links: UInt32
    public var rdev: UInt64
    public var linkTarget: [UInt8]
    public var xattrs: [Xattr]       // sorted by name
    public var flags: UInt32         // bit 0: content damaged (marked by repair)
    public var content: NodeContent

    public static let flagDamaged: UInt32 = 1

    public init(name: [UInt8], type: NodeType, mode: UInt32 = 0, uid: UInt32 = 0, gid: UInt32 = 0,
                user: [UInt8] = [], group: [UInt8] = [], mtime: Int64 = 0, ctime: Int64 = 0, size: UInt64 = 0,
                inode: UInt64 = 0, device: UInt64 = 0, links: UInt32 = 1, rdev: UInt64 = 0,
                linkTarget: [UInt8] = [], xattrs: [Xattr] = [], flags: UInt32 = 0, content: NodeContent = .none) {
        self.name = name; self.type = type; self.mode = mode; self.uid = uid; self.gid = gid
        self.user = user; self.group = group; self.mtime = mtime; self.ctime = ctime; self.size = size
        self.inode = inode; self.device = device; self.links = links; self.rdev = rdev
        self.linkTarget = linkTarget; self.xattrs = xattrs; self.flags = flags; self.content = content
    }

    public var nameString: String { String(decoding: name, as: UTF8.self) }

    // Kept out of line: when inlined, Swift 6.3.1's optimizer (CopyPropagation) crashes on
    // some callers in release builds ("Found outside of lifetime use").
    public var chunks: [ID] {
        @inline(never) get { switch content { case .chunks(let c): return c; default: return [] } }
    }
    public var subtree: ID? {
        @inline(never) get { switch content { case .subtree(let s): return s; default: return nil } }
    }

    /// A name is safe to restore when it is not empty, ".", "..", and has no "/" or NUL.
    public static func isSafeName(_ n: [UInt8]) -> Bool {
        !n.isEmpty && n != [46] && n != [46, 46] && !n.contains(47) && !n.contains(0)
    }
}

/// A tree blob: the canonical encoding of a directory's nodes.
///
///     version u8 (1) | count u32 | count x Node, sorted by name (bytewise), names unique
///
/// Node = name lp | type u8 | mode u32 | uid u32 | gid u32 | user lp | group lp |
///        mtime i64 | ctime i64 | size u64 | inode u64 | device u64 | links u32 | rdev u64 |
///        link_target lp | xattr_count u32 | xattr_count x (name lp | value lp), sorted by name |
///        flags u32 | content_kind u8 | content | extension lp
/// content: kind 0 nothing; kind 1 count u32 + count x id [32]; kind 2 subtree id [32].
/// lp = u32 length + bytes. extension is empty in v1 and ignored by v1 readers.
public struct Tree: Sendable, Equatable {
    public var nodes: [Node]
    public init(nodes: [Node]) { self.nodes = nodes }

    public static let maxNodes = 1 << 24

    /// Sorts nodes by name; the encoding is canonical only for sorted, unique names.
    public mutating func sort() {
        nodes.sort { $0.name.lexicographicallyPrecedes($1.name) }
        for i in nodes.indices { nodes[i].xattrs.sort { $0.name.lexicographicallyPrecedes($1.name) } }
    }

    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: 64 + nodes.count * 160)
        w.u8(1); w.u32(UInt32(nodes.count))
        for n in nodes {
            w.lengthPrefixed(n.name); w.u8(n.type.rawValue); w.u32(n.mode); w.u32(n.uid); w.u32(n.gid)
            w.lengthPrefixed(n.user); w.lengthPrefixed(n.group)
            w.i64(n.mtime); w.i64(n.ctime); w.u64(n.size); w.u64(n.inode); w.u64(n.device); w.u32(n.links); w.u64(n.rdev)
            w.lengthPrefixed(n.linkTarget)
            w.u32(UInt32(n.xattrs.count))
            for x in n.xattrs { w.lengthPrefixed(x.name); w.lengthPrefixed(x.value) }
            w.u32(n.flags)
            w.u8(n.content.kind)
            switch n.content {
            case .none: break
            case .chunks(let ids): w.u32(UInt32(ids.count)); for id in ids { w.id(id) }
            case .subtree(let id): w.id(id)
            }
            w.u32(0) // extension
        }
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws -> Tree {
        var r = ByteReader(bytes)
        let v = try r.u8("tree version")
        guard v == 1 else { throw FormatError.unsupportedVersion("tree", Int(v)) }
        let count = Int(try r.u32("node count"))
        guard count <= maxNodes, count <= r.remaining / 80 else { throw FormatError.invalid("node count \(count) exceeds the tree") }
        var nodes = [Node](); nodes.reserveCapacity(count)
        for _ in 0..<count {
            let name = try r.lengthPrefixed("node name")
            let t = try r.u8("node type")
            guard let type = NodeType(rawValue: t) else { throw FormatError.invalid("unknown node type \(t)") }
            var n = Node(name: name, type: type)
            n.mode = try r.u32(); n.uid = try r.u32(); n.gid = try r.u32()
            n.user = try r.lengthPrefixed("user"); n.group = try r.lengthPrefixed("group")
            n.mtime = try r.i64(); n.ctime = try r.i64(); n.size = try r.u64(); n.inode = try r.u64()
            n.device = try r.u64(); n.links = try r.u32(); n.rdev = try r.u64()
            n.linkTarget = try r.lengthPrefixed("link target")
            let nx = Int(try r.u32("xattr count"))
            guard nx <= r.remaining / 8 else { throw FormatError.invalid("xattr count \(nx) exceeds the tree") }
            for _ in 0..<nx {
                let x = Xattr(name: try r.lengthPrefixed("xattr name"), value: try r.lengthPrefixed("xattr value"))
                if let last = n.xattrs.last, !last.name.lexicographicallyPrecedes(x.name) {
                    throw FormatError.invalid("xattrs of \(n.nameString) not sorted or not unique")
                }
                n.xattrs.append(x)
            }
            n.flags = try r.u32("flags")
            let kind = try r.u8("content kind")
            switch kind {
            case 0: n.content = .none
            case 1:
                let nc = Int(try r.u32("chunk count"))
                guard nc <= r.remaining / 32 else { throw FormatError.invalid("chunk count \(nc) exceeds the tree") }
                var ids = [ID](); ids.reserveCapacity(nc)
                for _ in 0..<nc { ids.append(try r.id("chunk id")) }
                n.content = .chunks(ids)
            case 2: n.content = .subtree(try r.id("subtree id"))
            default: throw FormatError.invalid("unknown content kind \(kind) (written by a newer version?)")
            }
            // A file carries chunks, a folder a subtree, everything else nothing (§10.1).
            let expected: UInt8 = type == .file ? 1 : type == .directory ? 2 : 0
            guard kind == expected else {
                throw FormatError.invalid("\(n.nameString): a \(type) node cannot have content kind \(kind)")
            }
            _ = try r.lengthPrefixed("extension")
            if let last = nodes.last, !last.name.lexicographicallyPrecedes(n.name) {
                throw FormatError.invalid("tree nodes not sorted or not unique at \(n.nameString)")
            }
            nodes.append(n)
        }
        guard r.atEnd else { throw FormatError.invalid("\(r.remaining) trailing bytes after tree") }
        return Tree(nodes: nodes)
    }

    public func node(named name: [UInt8]) -> Node? {
        var lo = 0, hi = nodes.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if nodes[mid].name == name { return nodes[mid] }
            if nodes[mid].name.lexicographicallyPrecedes(name) { lo = mid + 1 } else { hi = mid }
        }
        return nil
    }
}
