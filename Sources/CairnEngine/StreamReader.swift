import CairnCore
import CairnFormat
import CairnRepository

/// Random access by byte offset to a file node's content, the concatenation of its chunks.
///
/// The chunk lengths come from the index, so a read loads only the chunks that hold the bytes
/// asked for; the last chunk loaded is kept, so reading a run of small pieces (tar headers)
/// from one chunk loads it once. Nothing assumes where chunks are cut.
public final class StreamReader {
    let repo: Repository
    let chunks: [ID]
    /// `starts[i]` is the offset of chunk i; the last element is the content's length.
    let starts: [UInt64]
    var cached: (index: Int, bytes: [UInt8])?
    /// Plain bytes of the chunks loaded so far (a chunk loaded twice counts twice).
    public private(set) var loadedBytes: UInt64 = 0

    /// Fails when a chunk is not in the index (its length is unknown).
    public init(repository: Repository, chunks: [ID]) throws {
        repo = repository; self.chunks = chunks
        var s: [UInt64] = [0]
        s.reserveCapacity(chunks.count + 1)
        for id in chunks {
            guard let loc = repository.lookup(.data, id) else { throw RepositoryError.blobNotFound(.data, id) }
            s.append(s.last! + UInt64(loc.entry.plainLength))
        }
        starts = s
    }

    public var length: UInt64 { starts.last! }

    /// The chunk holding byte `offset` (< length): the last chunk starting at or before it
    /// that is not empty.
    func chunkIndex(_ offset: UInt64) -> Int {
        var lo = 1, hi = starts.count - 1   // first j with starts[j] > offset
        while lo < hi {
            let mid = (lo + hi) / 2
            if starts[mid] > offset { hi = mid } else { lo = mid + 1 }
        }
        return lo - 1
    }

    func chunk(_ i: Int) throws -> [UInt8] {
        if let c = cached, c.index == i { return c.bytes }
        let bytes = try repo.loadBlob(.data, chunks[i])
        guard UInt64(bytes.count) == starts[i + 1] - starts[i] else {
            throw RepositoryError.damaged("chunk \(chunks[i].short) holds \(bytes.count) bytes, the index says \(starts[i + 1] - starts[i])")
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
        guard offset < length, count > 0 else { return 0 }
        let end = offset + min(count, length - offset)
        var at = offset
        var i = chunkIndex(offset)
        while at < end {
            let c = try chunk(i)
            let lo = Int(at - starts[i]), hi = Int(min(end, starts[i + 1]) - starts[i])
            if hi > lo { try body(c[lo..<hi]) }
            at = starts[i] + UInt64(hi)
            i += 1
        }
        return end - offset
    }
}
