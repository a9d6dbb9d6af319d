/// Just enough XML for S3's replies (ListBucketResult, ListPartsResult, ListMultipartUploadsResult,
/// InitiateMultipartUploadResult, CompleteMultipartUploadResult, Error): the text of named
/// elements, entities unescaped. No Foundation XML: the CLI links only FoundationEssentials.
///
/// S3 never nests an element inside one of the same name, and never uses CDATA or comments in
/// these replies, so an element is the bytes between `<Name …>` and the next `</Name>`.
public struct S3XML: Sendable {
    let bytes: ArraySlice<UInt8>

    public init(_ bytes: [UInt8]) { self.bytes = bytes[...] }
    init(slice: ArraySlice<UInt8>) { bytes = slice }

    /// Every element called `name` (in document order), as documents of their contents.
    public func all(_ name: String) -> [S3XML] {
        let open = Array(("<" + name).utf8), close = Array(("</" + name + ">").utf8)
        var out: [S3XML] = []
        var i = bytes.startIndex
        while let start = Self.find(open, in: bytes, from: i) {
            var j = start + open.count
            guard j < bytes.endIndex else { break }
            // `<Part` must not match `<PartNumber>`: the name ends at `>`, `/` or a space.
            let next = bytes[j]
            guard next == 62 || next == 47 || next == 32 || next == 9 || next == 10 || next == 13 else { i = j; continue }
            guard let gt = bytes[j...].firstIndex(of: 62) else { break }
            if bytes[gt - 1] == 47 {   // <Name/>
                out.append(S3XML(slice: bytes[gt + 1 ..< gt + 1]))
                i = gt + 1
                continue
            }
            j = gt + 1
            guard let end = Self.find(close, in: bytes, from: j) else { break }
            out.append(S3XML(slice: bytes[j..<end]))
            i = end + close.count
        }
        return out
    }

    public func first(_ name: String) -> S3XML? { all(name).first }

    /// The unescaped text of the first element called `name`.
    public func text(_ name: String) -> String? { first(name)?.text }

    /// This element's contents as text, entities unescaped.
    public var text: String { Self.unescape(bytes) }

    static func find(_ needle: [UInt8], in hay: ArraySlice<UInt8>, from: Int) -> Int? {
        guard !needle.isEmpty, hay.endIndex - from >= needle.count else { return nil }
        var i = from
        let last = hay.endIndex - needle.count
        while i <= last {
            if hay[i] == needle[0] {
                var k = 1
                while k < needle.count && hay[i + k] == needle[k] { k += 1 }
                if k == needle.count { return i }
            }
            i += 1
        }
        return nil
    }

    /// `&amp; &lt; &gt; &quot; &apos;` and numeric `&#NN;` / `&#xNN;` references.
    public static func unescape(_ s: some Collection<UInt8>) -> String {
        let b = Array(s)
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var i = 0
        while i < b.count {
            if b[i] == 38, let semi = b[i...].prefix(12).firstIndex(of: 59) {
                let entity = String(decoding: b[(i + 1)..<semi], as: UTF8.self)
                var replacement: [UInt8]?
                switch entity {
                case "amp": replacement = [38]
                case "lt": replacement = [60]
                case "gt": replacement = [62]
                case "quot": replacement = [34]
                case "apos": replacement = [39]
                default:
                    if entity.hasPrefix("#x") || entity.hasPrefix("#X") {
                        replacement = UInt32(entity.dropFirst(2), radix: 16).flatMap(Unicode.Scalar.init).map { Array(String($0).utf8) }
                    } else if entity.hasPrefix("#") {
                        replacement = UInt32(entity.dropFirst(1)).flatMap(Unicode.Scalar.init).map { Array(String($0).utf8) }
                    }
                }
                if let replacement {
                    out += replacement
                    i = semi + 1
                    continue
                }
            }
            out.append(b[i])
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `&`, `<`, `>`, `"` and `'` escaped, for the request bodies Cairn sends.
    public static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(c)
            }
        }
        return out
    }
}
