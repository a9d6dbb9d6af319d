import CairnCore
import CairnCrypto

/// AWS Signature Version 4 (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html),
/// signed by Cairn: canonical request → string to sign → HMAC chain of date, region, service.
public struct SigV4: Sendable {
    public var accessKey: String
    public var secretKey: String
    public var sessionToken: String?
    public var region: String
    public var service: String

    public init(accessKey: String, secretKey: String, sessionToken: String? = nil, region: String, service: String = "s3") {
        self.accessKey = accessKey; self.secretKey = secretKey; self.sessionToken = sessionToken
        self.region = region; self.service = service
    }

    /// The headers to add to a request: `x-amz-date`, `x-amz-content-sha256` (for S3),
    /// `x-amz-security-token` when there is a session token, and `Authorization`.
    /// `path` is the URI-encoded path as sent; `query` the raw query pairs (unencoded);
    /// `headers` the other headers to sign (at least `host`).
    public func sign(method: String, path: String, query: [(String, String)], headers: [(String, String)],
                     payloadHash: String, amzDate: String) -> [(String, String)] {
        let c = canonicalRequest(method: method, path: path, query: query, headers: headers,
                                 payloadHash: payloadHash, amzDate: amzDate)
        let day = String(amzDate.prefix(8))
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let toSign = ["AWS4-HMAC-SHA256", amzDate, scope, SHA256.hash(Array(c.text.utf8)).hex].joined(separator: "\n")
        var key = HMACSHA256(key: Array(("AWS4" + secretKey).utf8)).mac(Array(day.utf8)).bytes
        for part in [region, service, "aws4_request"] { key = HMACSHA256(key: key).mac(Array(part.utf8)).bytes }
        let signature = HMACSHA256(key: key).mac(Array(toSign.utf8)).hex
        var out = c.signed.filter { $0.0.hasPrefix("x-amz-") }
        out.append(("Authorization", "AWS4-HMAC-SHA256 Credential=\(accessKey)/\(scope), SignedHeaders=\(c.signedNames), Signature=\(signature)"))
        return out
    }

    /// The canonical request `sign` signs (its text), with the signed headers (lower-case
    /// names, sorted) and their names joined by ";".
    public func canonicalRequest(method: String, path: String, query: [(String, String)], headers: [(String, String)],
                                 payloadHash: String, amzDate: String) -> (text: String, signed: [(String, String)], signedNames: String) {
        var signed = headers.map { ($0.0.lowercased(), Self.trim($0.1)) }
        signed.append(("x-amz-date", amzDate))
        if service == "s3" { signed.append(("x-amz-content-sha256", payloadHash)) }
        if let sessionToken { signed.append(("x-amz-security-token", sessionToken)) }
        signed.sort { $0.0 < $1.0 }
        let signedNames = signed.map(\.0).joined(separator: ";")
        let headerBlock: String = signed.map { (h: (String, String)) -> String in h.0 + ":" + h.1 + "\n" }.joined()
        let canonicalPath: String = path.isEmpty ? "/" : path
        let text = [method, canonicalPath, Self.canonicalQuery(query), headerBlock, signedNames, payloadHash].joined(separator: "\n")
        return (text, signed, signedNames)
    }

    /// Query pairs encoded and sorted, as signed (and as they must be sent).
    public static func canonicalQuery(_ query: [(String, String)]) -> String {
        var pairs: [(String, String)] = query.map { (encode($0.0), encode($0.1)) }
        pairs.sort { (a: (String, String), b: (String, String)) -> Bool in a.0 == b.0 ? a.1 < b.1 : a.0 < b.0 }
        return pairs.map { (p: (String, String)) -> String in p.0 + "=" + p.1 }.joined(separator: "&")
    }

    /// RFC 3986 unreserved characters stay; everything else is %XX (uppercase). With
    /// `slash: false`, "/" stays too (for paths).
    public static func encode(_ s: String, slash: Bool = true) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case 0x41...0x5A, 0x61...0x7A, 0x30...0x39, 0x2D, 0x2E, 0x5F, 0x7E: out.unicodeScalars.append(Unicode.Scalar(b))
            case 0x2F where !slash: out += "/"
            default: out += "%" + (b < 16 ? "0" : "") + String(b, radix: 16, uppercase: true)
            }
        }
        return out
    }

    /// Header values: leading and trailing spaces removed, inner runs of spaces made one.
    static func trim(_ v: String) -> String {
        v.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    }

    /// `YYYYMMDDTHHMMSSZ` for a time.
    public static func amzDate(_ t: Timestamp) -> String {
        let iso = t.rfc3339   // 2026-11-21T21:46:19.123456789Z
        let digits = iso.prefix(19).filter { $0.isNumber || $0 == "T" }
        return String(digits) + "Z"
    }
}
