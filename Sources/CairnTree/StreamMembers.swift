import CairnChunking
import CairnCore
import CairnFormat
import CairnRepository

/// The tar stream of a stream snapshot, read in place (format-spec §13.5): its members are a
/// view of the headers in the stream, nothing about them is stored. Listing reads only the
/// chunks that hold header bytes; a member's data is read by offset.
public final class TarStream {
    public let node: Node
    public let reader: StreamReader

    /// The stream of a stream snapshot (`backup --stdin`: the root holds exactly one file node,
    /// and no path of the snapshot is absolute) when it starts with a tar header; nil otherwise.
    /// Throws when the stream's chunks are not all in the index.
    public static func open(repository: Repository, snapshot: Snapshot) throws -> TarStream? {
        guard let root = snapshot.treeID, !snapshot.paths.contains(where: { $0.hasPrefix("/") }) else { return nil }
        let tree = try repository.loadTree(root)
        guard tree.nodes.count == 1, tree.nodes[0].type == .file else { return nil }
        return try TarStream(repository: repository, node: tree.nodes[0])
    }

    /// Nil when the node's content does not start with a plausible tar header (§13.4 detection).
    public init?(repository: Repository, node: Node) throws {
        reader = try StreamReader(repository: repository, chunks: node.chunks)
        let first = try reader.read(0, TarHeader.blockSize)
        guard first.count == TarHeader.blockSize, first.withUnsafeBytes({ TarHeader($0).isPlausibleFirst }) else { return nil }
        self.node = node
    }

    /// A member path for messages: control characters, bytes that are not UTF-8 and "\\"
    /// escaped as \\xNN, as the restorer shows names.
    public static func shown(_ p: PathBytes) -> String { FS.shown(p) }

    /// Every member in archive order. Reading stops at the end-of-archive block, at a block
    /// that is not a header, or at a chunk that cannot be read, each but the first with a warning.
    /// `errors`: damage that stopped the reading (TarMemberReader.errors).
    public func members() -> (members: [TarMember], warnings: [String], errors: [String]) {
        var r = TarMemberReader(reader)
        var out: [TarMember] = []
        do {
            while let m = try r.next() { out.append(m) }
        } catch {
            return (out, r.warnings + ["the stream cannot be read after byte \(r.offset): \(error)"], r.errors)
        }
        return (out, r.warnings, r.errors)
    }

    /// The path inside the stream that a command-line path names — `NAME:INNER`, `/NAME/INNER`,
    /// `NAME` or `/NAME`, NAME being the stream's name — as normalized components; nil when
    /// the path does not name the stream.
    public func inner(_ path: String) -> [PathBytes]? {
        var p = Array(path.utf8)[...]
        while p.first == 0x2F { p = p.dropFirst() }
        let name = node.name
        guard p.starts(with: name) else { return nil }
        let rest = p.dropFirst(name.count)
        guard rest.isEmpty || rest.first == 0x3A || rest.first == 0x2F else { return nil }
        return TarPath.normalize(Array(rest.dropFirst())).components
    }

    /// The members at or below `inner`, with their paths relative to the stream: those below it
    /// (only its direct children unless `recursive`), or the member named `inner` when it is
    /// not a folder. Members with an empty path (".") are left out. Nil when `inner` names
    /// nothing in the stream.
    public static func select(_ members: [TarMember], under inner: [PathBytes], recursive: Bool) -> [(path: [PathBytes], member: TarMember)]? {
        var out: [(path: [PathBytes], member: TarMember)] = []
        var exact: TarMember?
        for m in members {
            let c = TarPath.normalize(m.path).components
            guard c.count >= inner.count, c.starts(with: inner) else { continue }
            if c.count == inner.count {
                if !c.isEmpty { exact = m }
                continue
            }
            if recursive || c.count == inner.count + 1 { out.append((c, m)) }
        }
        if out.isEmpty, let exact {
            return exact.kind == .directory ? [] : [(inner, exact)]
        }
        return out.isEmpty && exact == nil && !inner.isEmpty ? nil : out
    }

    /// The last member at `path` (later members replace earlier ones, as tar extracts them).
    public static func find(_ members: ArraySlice<TarMember>, path: [PathBytes]) -> Int? {
        members.indices.last { TarPath.normalize(members[$0].path).components == path }
    }

    /// The member whose data a file member at `index` has: itself, or for a hard link the
    /// member it names (the last one before it with that path, followed through hard links).
    public static func dataMember(_ members: [TarMember], _ index: Int) throws -> TarMember {
        var i = index
        for _ in 0..<64 {
            let m = members[i]
            switch m.kind {
            case .file, .other: return m
            case .hardlink:
                let target = TarPath.normalize(m.linkTarget).components
                guard let t = find(members[..<i], path: target) else {
                    throw RepositoryError.fileNotFound("\(FS.shown(m.path)) is a hard link to \(FS.shown(m.linkTarget)), which is not a member before it")
                }
                i = t
            case .directory: throw RepositoryError.invalidArgument("\(FS.shown(m.path)) is a folder in the tar stream: dump writes one file member")
            case .symlink: throw RepositoryError.invalidArgument("\(FS.shown(m.path)) is a symlink to \(FS.shown(m.linkTarget)) in the tar stream: dump writes one file member")
            default: throw RepositoryError.invalidArgument("\(FS.shown(m.path)) is a \(m.typeName) in the tar stream: dump writes one file member")
            }
        }
        throw RepositoryError.invalidArgument("\(FS.shown(members[index].path)): hard links nested too deep")
    }

    /// Passes a file member's content to `body` as pieces at their offsets in the file, in
    /// order; a sparse member's holes are not passed. Returns the length of the file: for a
    /// sparse member its recorded size, otherwise the data bytes the stream holds (fewer than
    /// `dataSize` when the stream ends early).
    @discardableResult
    public func content(of m: TarMember, _ body: (UInt64, ArraySlice<UInt8>) throws -> Void) throws -> UInt64 {
        guard m.isSparse else {
            var at: UInt64 = 0
            return try reader.pieces(m.dataOffset, m.dataSize) { piece in try body(at, piece); at += UInt64(piece.count) }
        }
        let (runs, start) = try sparseRuns(m)
        var stored = start
        for run in runs {
            var at = run.offset
            let n = try reader.pieces(stored, run.length) { piece in try body(at, piece); at += UInt64(piece.count) }
            guard n == run.length else { throw RepositoryError.damaged("\(FS.shown(m.path)): the stream ends inside the sparse member's data") }
            stored += run.length
        }
        return m.size
    }

    /// Writes a file member's content as a file reads: holes as zeros. Returns its length.
    @discardableResult
    public func dump(_ m: TarMember, to out: ([UInt8]) throws -> Void) throws -> UInt64 {
        var at: UInt64 = 0
        func zeros(to end: UInt64) throws {
            while at < end {
                let n = Int(min(end - at, 1 << 20))
                try out([UInt8](repeating: 0, count: n)); at += UInt64(n)
            }
        }
        let length = try content(of: m) { offset, piece in
            try zeros(to: offset)
            try out(Array(piece)); at += UInt64(piece.count)
        }
        try zeros(to: length)
        return length
    }

    /// A sparse member's runs and the offset in the stream of its first run's data; checked to
    /// be in order, not overlapping, inside the file's size and the member's data.
    func sparseRuns(_ m: TarMember) throws -> ([TarMember.Run], UInt64) {
        var runs = m.sparseRuns
        var start = m.dataOffset
        if m.sparseMapInData {
            // pax sparse 1.0: decimal numbers, one per line: the count, then offset and length
            // of each run; padded to a block.
            var buf: [UInt8] = [], pos = 0
            func number() throws -> UInt64 {
                while true {
                    if let nl = buf[pos...].firstIndex(of: 0x0A) {
                        defer { pos = nl + 1 }
                        if let n = TarMemberReader.decimal(Array(buf[pos..<nl])) { return n }
                        break
                    }
                    let more = try reader.read(m.dataOffset + UInt64(buf.count), TarHeader.blockSize)
                    guard !more.isEmpty, UInt64(buf.count) < m.dataSize, buf.count < 1 << 26 else { break }
                    buf += more
                }
                throw RepositoryError.damaged("\(FS.shown(m.path)): the sparse map at the start of its data is unreadable")
            }
            let count = try number()
            guard count <= m.dataSize / 2 + 1 else { throw RepositoryError.damaged("\(FS.shown(m.path)): the sparse map claims \(count) runs") }
            runs = []
            for _ in 0..<count { runs.append(TarMember.Run(offset: try number(), length: try number())) }
            start += TarMemberReader.padded(UInt64(pos))
        }
        guard m.size <= UInt64(Int64.max) else { throw RepositoryError.damaged("\(FS.shown(m.path)): its sparse size \(m.size) is too large") }
        var end: UInt64 = 0, stored: UInt64 = 0
        for r in runs {
            let (e, o) = r.offset.addingReportingOverflow(r.length)
            guard !o, r.offset >= end, e <= m.size else {
                throw RepositoryError.damaged("\(FS.shown(m.path)): its sparse map is not in order or goes past the file's size")
            }
            end = e; stored += r.length
        }
        guard stored <= m.dataSize - min(m.dataSize, start - m.dataOffset) else {
            throw RepositoryError.damaged("\(FS.shown(m.path)): its sparse map needs more data than the member holds")
        }
        return (runs.filter { $0.length > 0 }, start)
    }
}
