import CairnCore
import CairnFormat
import CairnRepository

/// Random access by byte offset to a file node's content, the concatenation of its chunks.
///
/// The chunk lengths come from the index (`ChunkMap`), so a read loads only the chunks that
/// hold the bytes asked for; the last chunk loaded is kept, so reading a run of small pieces
/// (tar headers) from one chunk loads it once.
public final class StreamReader {
    let repo: Repository
    public let map: ChunkMap
    var cached: (index: Int, bytes: [UInt8])?
    /// Plain bytes of the chunks loaded so far (a chunk loaded twice counts twice).
    public private(set) var loadedBytes: UInt64 = 0

    /// Fails when a chunk is not in the index (its length is unknown).
    public init(repository: Repository, chunks: [ID]) throws {
        repo = repository
        map = try ChunkMap(repository: repository, chunks: chunks)
    }

    public var length: UInt64 { map.length }

    func chunk(_ i: Int) throws -> [UInt8] {
        if let c = cached, c.index == i { return c.bytes }
        let bytes = try repo.loadBlob(.data, map.chunks[i])
        guard bytes.count == map.length(of: i) else {
            throw RepositoryError.damaged("chunk \(map.chunks[i].short) holds \(bytes.count) bytes, the index says \(map.length(of: i))")
        }
        loadedBytes += UInt64(bytes.count)
        cached = (i, bytes)
        return bytes
    }

    /// Up to `count` bytes from `offset`; fewer at the end of the content.
    public func read(_ offset: UInt64, _ count: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        try pieces(offset, UInt64(count)) { out.append(contentsOf: $0) }
        return out
    }

    /// Passes the bytes from `offset` on, `count` of them or up to the end of the content, in
    /// pieces of at most one chunk each. Returns how many bytes were passed.
    @discardableResult
    public func pieces(_ offset: UInt64, _ count: UInt64, _ body: (ArraySlice<UInt8>) throws -> Void) throws -> UInt64 {
        try map.pieces(offset, count) { i, range in try body(try chunk(i)[range]) }
    }
}
