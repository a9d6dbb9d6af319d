import CairnHTTP
import CairnREST
import CairnS3
import CairnSFTP
import CairnStorage
import FoundationEssentials

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
        return LocalBackend(path: location)
    }

    /// Packs in flight at once. One by default for every store: a pack cut short by `kill -9`
    /// or a lost link is sent again whole by the next run, so each extra connection can add
    /// a pack to what an interrupted backup re-sends. Parallel requests help on links with
    /// high latency; `--connections` raises it.
    static func defaultConnections(_ backend: any Backend) -> Int { 1 }
}
