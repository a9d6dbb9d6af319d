import CairnREST
import CairnS3
import CairnSFTP
import CairnStorage

extension StoreRegistry {
    /// The stores this tool has: `local:PATH` (or a plain path), `rest:URL`,
    /// `s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX]`, `sftp:[USER@]HOST[:PORT]:/PATH` or
    /// `sftp://...`. Their order is the order of the message about an unknown scheme.
    public static let standard: StoreRegistry = {
        let r = StoreRegistry(plainPathScheme: "local")
        r.register(StoreScheme(name: "local", usage: "local:PATH (or a plain path)") { path, _, _ in
            LocalBackend(path: path)
        })
        r.register(StoreScheme(name: "rest", usage: "rest:http(s)://HOST:PORT/PATH", retriesItself: true) { url, transfer, _ in
            try RESTBackend(url: url, http: transfer.http)
        })
        r.register(StoreScheme(name: "s3", usage: "s3:http(s)://HOST/BUCKET/PREFIX", retriesItself: true) { url, transfer, env in
            try S3Backend(url: url, environment: env, http: transfer.http)
        })
        // Retried by the RetryingBackend around it: a transient failure drops the ssh
        // connection, and the next attempt starts a new one.
        r.register(StoreScheme(name: "sftp", usage: "sftp:[USER@]HOST:/PATH") { spec, _, env in
            try SFTPBackend(location: spec, command: env["CAIRN_SFTP_COMMAND"], retry: .none)
        })
        return r
    }()
}
