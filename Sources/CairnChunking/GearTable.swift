import CairnCore
import CairnCrypto

/// The 256 64-bit gear values, derived from the repository's secret chunker key so that chunk
/// boundaries reveal nothing across repositories:
/// `gear[i] = u64le(HMAC-SHA-256(chunkerKey, "cairn.v1.gear" || byte(i))[0..<8])`.
public struct GearTable: Sendable {
    public let values: [UInt64]

    public init(values: [UInt64]) {
        precondition(values.count == 256)
        self.values = values
    }

    public static func derive(chunkerKey: [UInt8]) -> GearTable {
        let mac = HMACSHA256(key: chunkerKey)
        var values = [UInt64](); values.reserveCapacity(256)
        let label = Array("cairn.v1.gear".utf8)
        for i in 0..<256 {
            let id = mac.mac(label + [UInt8(i)])
            // First 8 bytes of the MAC, little-endian. ID.w0 holds them big-endian.
            values.append(id.w0.byteSwapped)
        }
        return GearTable(values: values)
    }
}
