import CairnCore
import CairnFormat
import CairnRepository

/// Where each chunk of a file node's content starts, from the index's plain lengths: a byte
/// offset maps to the chunk that holds it without loading any chunk. Nothing assumes where
/// chunks are cut.
public struct ChunkMap: Sendable {
    public let chunks: [ID]
    /// `starts[i]` is the offset of chunk i; the last element is the content's length.
    let starts: [UInt64]

    /// Fails when a chunk is not in the index (its length is unknown).
    public init(repository: Repository, chunks: [ID]) throws {
        self.chunks = chunks
        var s: [UInt64] = [0]
        s.reserveCapacity(chunks.count + 1)
        for id in chunks {
            guard let loc = repository.lookup(.data, id) else { throw RepositoryError.blobNotFound(.data, id) }
            s.append(s.last! + UInt64(loc.entry.plainLength))
        }
        starts = s
    }

    /// The content's length.
    public var length: UInt64 { starts.last! }

    /// The plain length of chunk i, as the index records it.
    public func length(of i: Int) -> Int { Int(starts[i + 1] - starts[i]) }

    /// The chunk holding byte `offset` (< length): the last chunk starting at or before it
    /// that is not empty.
    public func chunkIndex(_ offset: UInt64) -> Int {
        var lo = 1, hi = starts.count - 1   // first j with starts[j] > offset
        while lo < hi {
            let mid = (lo + hi) / 2
            if starts[mid] > offset { hi = mid } else { lo = mid + 1 }
        }
        return lo - 1
    }

    /// Visits the chunks holding the bytes from `offset` on, `count` of them or up to the end
    /// of the content, in order, each with the range of its bytes wanted. Returns how many
    /// bytes that covers.
    @discardableResult
    public func pieces(_ offset: UInt64, _ count: UInt64, _ body: (_ chunk: Int, _ range: Range<Int>) throws -> Void) rethrows -> UInt64 {
        guard offset < length, count > 0 else { return 0 }
        let end = offset + min(count, length - offset)
        var at = offset
        var i = chunkIndex(offset)
        while at < end {
            let lo = Int(at - starts[i]), hi = Int(min(end, starts[i + 1]) - starts[i])
            if hi > lo { try body(i, lo..<hi) }
            at = starts[i] + UInt64(hi)
            i += 1
        }
        return end - offset
    }
}
