import CairnHTTP
import CairnREST
import CairnS3
import CairnSFTP
import CairnStorage
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// Turns a repository location into a store: `rest:URL`, `s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX]`,
/// `sftp:[USER@]HOST[:PORT]:/PATH`, `sftp://...`, `local:PATH` or a plain path.
enum StoreLocation {
    /// How remote stores retry and time out.
    struct Transfer {
        var retries = 9
        var timeoutSeconds = 120
        var retry: RetryPolicy { RetryPolicy(attempts: retries + 1) }
        var http: HTTPExchange { HTTPExchange(timeoutSeconds: timeoutSeconds, retry: retry) }
    }

    static func backend(for location: String, transfer: Transfer = Transfer()) throws -> any Backend {
        if location.hasPrefix("sftp:") {
            return try SFTPBackend(location: String(location.dropFirst(5)),
                                   command: ProcessInfo.processInfo.environment["CAIRN_SFTP_COMMAND"],
                                   retry: transfer.retry)
        }
        if location.hasPrefix("s3:") {
            return try S3Backend(url: String(location.dropFirst(3)), environment: ProcessInfo.processInfo.environment,
                                 http: transfer.http)
        }
        if location.hasPrefix("rest:") { return try RESTBackend(url: String(location.dropFirst(5)), http: transfer.http) }
        if location.hasPrefix("local:") { return LocalBackend(path: String(location.dropFirst(6))) }
        if let scheme = unknownScheme(location) {
            throw StoreLocationError("unknown repository scheme \"\(scheme):\" in \(location): supported are local:PATH (or a plain path), "
                + "rest:http(s)://HOST:PORT/PATH, s3:http(s)://HOST/BUCKET/PREFIX and sftp:[USER@]HOST:/PATH. "
                + "For a local folder whose name has a colon, write ./\(location) or local:\(location)")
        }
        return LocalBackend(path: location)
    }

    /// The scheme of a location that starts like a URL with a scheme this tool does not know:
    /// `xyz://...` always; `xyz:...` when no such local path exists. A path starting with `/`
    /// or `.`, and a one-letter drive (`C:`), are never taken for a scheme.
    static func unknownScheme(_ location: String) -> String? {
        guard let colon = location.firstIndex(of: ":") else { return nil }
        let scheme = location[..<colon]
        guard scheme.count >= 2, let first = scheme.first, first.isASCII, first.isLetter,
              scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" || $0 == ".") }) else { return nil }
        if location[colon...].hasPrefix("://") { return String(scheme) }
        return access(location, F_OK) == 0 ? nil : String(scheme)
    }

    /// Packs in flight at once. One by default for every store: a pack cut short by `kill -9`
    /// or a lost link is sent again whole by the next run, so each extra connection can add
    /// a pack to what an interrupted backup re-sends. Parallel requests help on links with
    /// high latency; `--connections` raises it.
    static func defaultConnections(_ backend: any Backend) -> Int { 1 }
}

/// A repository location that names no store this tool has (exit 1, no usage banner).
struct StoreLocationError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
