import CairnTree
internal import CPosix
#if canImport(Glibc)
import Glibc
#endif

/// Reads a file with holes: data ranges from the disk, hole ranges (found with SEEK_DATA /
/// SEEK_HOLE) as zeros without touching the disk. The bytes are those a plain read gives;
/// `zeros(at:)` tells the chunker which of them are known zeros, so it can cut them without
/// scanning. A file system without SEEK_DATA is read plainly.
final class SparseFile {
    let fd: Int32
    let path: PathBytes
    /// Offset of the next byte `read` gives.
    private(set) var position: UInt64 = 0
    /// The current segment (a data range or a hole) ends here.
    private var segmentEnd: UInt64 = 0
    private var inHole = false
    private var seekable = true
    /// Holes found and not yet behind the chunker, in order.
    private var holes: [(start: UInt64, end: UInt64)] = []
    /// Hole bytes given without reading (for tests and messages).
    private(set) var holeBytes: UInt64 = 0

    init(fd: Int32, path: PathBytes) { self.fd = fd; self.path = path }

    /// True when the file occupies fewer blocks than its size needs: it has holes.
    static func hasHoles(_ fd: Int32) -> Bool {
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_size > 0 else { return false }
        return UInt64(st.st_blocks) * 512 < UInt64(st.st_size)
    }

    /// Fills `buf` from the current position; 0 at the end of the file.
    func read(_ buf: UnsafeMutableRawBufferPointer) throws -> Int {
        if buf.count == 0 { return 0 }
        if seekable && position >= segmentEnd { try locate() }
        guard seekable else { return try pread(buf, buf.count) }
        if position >= segmentEnd { return 0 }
        let n = Int(min(UInt64(buf.count), segmentEnd - position))
        if inHole {
            memset(buf.baseAddress!, 0, n)
            position += UInt64(n); holeBytes += UInt64(n)
            return n
        }
        let got = try pread(buf, n)
        if got == 0 { segmentEnd = position }   // the file shrank: its end is here
        return got
    }

    private func pread(_ buf: UnsafeMutableRawBufferPointer, _ n: Int) throws -> Int {
        while true {
            let r = Glibc.pread(fd, buf.baseAddress, n, off_t(position))
            if r >= 0 { position += UInt64(r); return r }
            if errno != EINTR { throw SourceError(path: path, errno: errno, what: "read") }
        }
    }

    /// Finds the segment at `position`.
    private func locate() throws {
        let data = lseek(fd, off_t(position), cposix_seek_data)
        if data < 0 {
            guard errno == ENXIO else { seekable = false; return }   // EINVAL: no SEEK_DATA here
            // No data after `position`: a hole up to the end of the file, or the end itself.
            var st = stat()
            guard fstat(fd, &st) == 0 else { throw SourceError(path: path, errno: errno, what: "read") }
            segmentEnd = max(position, UInt64(max(0, st.st_size)))
            inHole = true
        } else if UInt64(data) > position {
            segmentEnd = UInt64(data); inHole = true
        } else {
            let hole = lseek(fd, off_t(position), cposix_seek_hole)
            guard hole >= 0 else { seekable = false; return }
            segmentEnd = max(UInt64(hole), position + 1); inHole = false
        }
        if inHole && segmentEnd > position { holes.append((position, segmentEnd)) }
    }

    /// How many bytes from stream offset `offset` are known zeros (a hole read already).
    /// Offsets are asked in increasing order: holes behind `offset` are forgotten.
    func zeros(at offset: UInt64) -> UInt64 {
        while let h = holes.first, h.end <= offset { holes.removeFirst() }
        guard let h = holes.first, h.start <= offset else { return 0 }
        return h.end - offset
    }
}

