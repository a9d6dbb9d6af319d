import CairnCore
import CairnChunking
import CairnCompression
internal import FoundationEssentials

/// The repository config (`config`, in an envelope): format version, repository ID, chunker
/// parameters, default compression and target pack size.
public struct Config: Sendable, Codable, Equatable {
    public struct Chunker: Sendable, Codable, Equatable {
        public var algorithm: String
        public var min: Int
        public var avg: Int
        public var max: Int
    }
    public var version: Int
    public var id: String
    public var chunker: Chunker
    public var compression: CompressionMode
    public var packSize: Int

    enum CodingKeys: String, CodingKey { case version, id, chunker, compression, packSize = "pack_size" }

    public static let chunkerAlgorithm = "fastcdc-ng2-gear-hmac"

    public init(id: ID, chunker: ChunkerParameters, compression: CompressionMode, packSize: Int) {
        version = 1
        self.id = id.hex
        self.chunker = Chunker(algorithm: Self.chunkerAlgorithm, min: chunker.min, avg: chunker.avg, max: chunker.max)
        self.compression = compression
        self.packSize = packSize
    }

    public var chunkerParameters: ChunkerParameters { .init(min: chunker.min, avg: chunker.avg, max: chunker.max) }

    public func validate() throws {
        guard version == 1 else { throw FormatError.unsupportedVersion("repository", version) }
        guard ID(hex: id) != nil else { throw FormatError.invalid("config id is not 64 hex digits") }
        guard chunker.algorithm == Self.chunkerAlgorithm else { throw FormatError.invalid("unknown chunker \(chunker.algorithm)") }
        try chunkerParameters.validate()
        guard packSize >= 1 << 16, packSize <= 1 << 31 else { throw FormatError.invalid("pack size \(packSize) out of range") }
    }

    public func encoded() throws -> [UInt8] {
        let e = JSONEncoder(); e.outputFormatting = [.sortedKeys]
        return Array(try e.encode(self))
    }

    public static func decode(_ b: [UInt8]) throws -> Config {
        let c: Config
        do { c = try JSONDecoder().decode(Config.self, from: Data(b)) }
        catch { throw FormatError.invalid("config is not valid JSON: \(error)") }
        try c.validate()
        return c
    }
}
