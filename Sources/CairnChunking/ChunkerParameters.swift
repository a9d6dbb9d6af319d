import CairnCore

/// Chunk sizes chosen at `init` and stored in the repository config.
public struct ChunkerParameters: Sendable, Equatable, Codable {
    public var min: Int
    public var avg: Int
    public var max: Int
    public init(min: Int, avg: Int, max: Int) { self.min = min; self.avg = avg; self.max = max }

    /// 16 KiB / 64 KiB / 256 KiB.
    public static let `default` = ChunkerParameters(min: 16 << 10, avg: 64 << 10, max: 256 << 10)

    /// Derives min = avg/4 and max = avg*4 from an average.
    public static func around(avg: Int) -> ChunkerParameters { .init(min: avg / 4, avg: avg, max: avg * 4) }

    /// avg a power of two in 256 B ... 16 MiB; 64 <= min < avg < max <= 64 MiB.
    public func validate() throws {
        guard avg >= 256, avg <= 16 << 20, avg & (avg - 1) == 0 else {
            throw FormatError.invalid("chunk average \(avg) must be a power of two between 256 B and 16 MiB")
        }
        guard min >= 64, min < avg, max > avg, max <= 64 << 20 else {
            throw FormatError.invalid("chunk sizes must satisfy 64 <= min < avg < max <= 64 MiB (got \(min)/\(avg)/\(max))")
        }
    }

    /// log2(avg).
    public var bits: Int { Int.bitWidth - 1 - avg.leadingZeroBitCount }
}
