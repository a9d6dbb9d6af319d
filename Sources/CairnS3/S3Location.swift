import CairnStorage

/// Where an S3 repository is: `s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX]`, and how requests
/// address the bucket.
public struct S3Location: Sendable, Equatable {
    /// Path style puts the bucket in the path (`HOST/BUCKET/KEY`, what MinIO, Ceph, moto and
    /// most self-hosted stores want); virtual-hosted (DNS) style puts it in the host name
    /// (`BUCKET.HOST/KEY`, what AWS recommends).
    public enum Addressing: String, Sendable { case path, dns }

    public var scheme: String       // "http" or "https"
    public var host: String         // host[:port] as given
    public var bucket: String
    public var prefix: String       // no leading or trailing "/"; may be empty
    public var addressing: Addressing

    /// `url` is what follows `s3:`; `lookup` is CAIRN_S3_BUCKET_LOOKUP (auto, path or dns;
    /// auto: dns for hosts ending in .amazonaws.com, unless the bucket name has a dot, which
    /// TLS wildcard certificates do not cover).
    public init(url: String, lookup: String? = nil) throws {
        let schemeLength = url.hasPrefix("http://") ? 7 : url.hasPrefix("https://") ? 8 : 0
        guard schemeLength > 0 else {
            throw StorageError.io("s3: needs http:// or https://, as in s3:https://s3.amazonaws.com/BUCKET/PREFIX; got \(url)")
        }
        scheme = schemeLength == 7 ? "http" : "https"
        let rest = url.dropFirst(schemeLength)
        let parts = rest.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard parts.count >= 2 else {
            throw StorageError.io("s3: needs a bucket after the host, as in s3:\(url.hasSuffix("/") ? url : url + "/")BUCKET; got \(url)")
        }
        host = parts[0]
        guard !host.contains("@") else { throw StorageError.io("s3: credentials go in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, not in the URL") }
        bucket = parts[1]
        prefix = parts.dropFirst(2).joined(separator: "/")
        let hostName = String(host.split(separator: ":").first ?? "").lowercased()
        switch (lookup ?? "auto").lowercased() {
        case "path": addressing = .path
        case "dns": addressing = .dns
        case "auto", "":
            addressing = (hostName.hasSuffix(".amazonaws.com") || hostName == "amazonaws.com") && !bucket.contains(".") ? .dns : .path
        default:
            throw StorageError.io("CAIRN_S3_BUCKET_LOOKUP must be auto, path or dns; got \(lookup ?? "")")
        }
    }

    /// The store's own key for a file (the same layout as a local repository).
    public func key(_ type: FileType, _ name: String) -> String {
        let base = prefix.isEmpty ? "" : prefix + "/"
        switch type {
        case .config: return base + "config"
        case .pack: return base + "data/" + name.prefix(2) + "/" + name
        default: return base + type.folder + "/" + name
        }
    }

    /// The key prefix every file of `type` starts with (the whole repository's with nil).
    public func keyPrefix(_ type: FileType?) -> String {
        let base = prefix.isEmpty ? "" : prefix + "/"
        guard let type else { return base }
        return type == .config ? base + "config" : base + type.folder + "/"
    }

    /// Host header, URI-encoded path (as sent and as signed) and full URL of a request for
    /// `key` (nil: the bucket itself) with the given query pairs.
    public func target(key: String?, query: [(String, String)] = []) -> (host: String, path: String, url: String) {
        let keyPath = key.map { "/" + SigV4.encode($0, slash: false) } ?? ""
        let host: String, path: String
        switch addressing {
        case .path:
            host = self.host
            path = "/" + SigV4.encode(bucket) + keyPath
        case .dns:
            host = bucket + "." + self.host
            path = keyPath.isEmpty ? "/" : keyPath
        }
        let q = SigV4.canonicalQuery(query)
        return (host, path, scheme + "://" + host + path + (q.isEmpty ? "" : "?" + q))
    }
}
