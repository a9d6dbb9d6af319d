import CairnCore
import CairnStorage
import Dispatch
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOSSL
#if canImport(Glibc)
import Glibc
#endif

/// `cairn serve`: one repository folder served over restic's REST protocol.
public struct ServeConfiguration: Sendable {
    /// The repository folder (`POST /?create=true` makes its layout).
    public var path: String
    public var host: String = "127.0.0.1"
    public var port: Int = 8000
    /// htpasswd file (bcrypt entries); nil only with `noAuth`.
    public var htpasswd: String?
    public var noAuth = false
    public var appendOnly = false
    public var tlsCertificate: String?
    public var tlsKey: String?
    public var verbose = false
    /// Largest accepted upload (restic and Cairn packs are about 16 MiB).
    public var maxUpload = 128 << 20

    public init(path: String) { self.path = path }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
        public init(_ d: String) { description = d }
    }

    /// `HOST:PORT`, `:PORT`, or `[V6]:PORT`.
    public mutating func setListen(_ s: String) throws {
        guard let colon = s.lastIndex(of: ":"), let p = Int(s[s.index(after: colon)...]), (0...65535).contains(p) else {
            throw Invalid("--listen wants HOST:PORT (127.0.0.1:8000, :8000, [::1]:8000), got \(s)")
        }
        var h = String(s[..<colon])
        if h.hasPrefix("["), h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        host = h.isEmpty ? "0.0.0.0" : h
        port = p
    }

    public var url: String {
        (tlsCertificate == nil ? "http://" : "https://") + (host.contains(":") ? "[\(host)]" : host) + ":\(port)/"
    }
}

public enum Server {
    /// Serves until the process is killed (SIGINT and SIGTERM end it at once: every write is
    /// atomic, so a request cut short leaves at most a temporary file, cleaned up at the next start).
    public static func run(_ config: ServeConfiguration) throws {
        // Default actions for SIGINT and SIGTERM, unblocked before any thread starts (threads
        // inherit the mask; a parent that spawned us with them blocked would make us unkillable).
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
        var stop = sigset_t()
        sigemptyset(&stop)
        sigaddset(&stop, SIGINT)
        sigaddset(&stop, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &stop, nil)
        let authenticator: Authenticator?
        if let file = config.htpasswd {
            authenticator = try Authenticator(file: file)
        } else if config.noAuth {
            authenticator = nil
        } else {
            throw ServeConfiguration.Invalid("refusing to serve without authentication: give --htpasswd FILE (make one with `cairn serve --htpasswd FILE --add-user NAME`), or --no-auth to allow anyone who can reach the port")
        }
        let server: HTTPServerBuilder
        switch (config.tlsCertificate, config.tlsKey) {
        case (nil, nil): server = .http1()
        case (let cert?, let key?):
            let chain: [NIOSSLCertificate], privateKey: NIOSSLPrivateKey
            do { chain = try NIOSSLCertificate.fromPEMFile(cert) } catch { throw ServeConfiguration.Invalid("cannot read the TLS certificate \(cert) (PEM): \(error)") }
            do { privateKey = try NIOSSLPrivateKey(file: key, format: .pem) } catch { throw ServeConfiguration.Invalid("cannot read the TLS key \(key) (PEM): \(error)") }
            let tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
            server = try .tls(.http1(), tlsConfiguration: tls)
        default:
            throw ServeConfiguration.Invalid("TLS needs both --tls-cert and --tls-key")
        }
        let backend = LocalBackend(path: config.path)
        _ = backend.removeStaleTemporaries()
        let responder = RESTResponder(backend: backend, appendOnly: config.appendOnly, maxUpload: config.maxUpload,
                                      authenticator: authenticator, verbose: config.verbose,
                                      pool: WorkerPool(threads: 4, limit: 1 << 16))
        // Hummingbird's own log (swift-log, standard output): warnings only unless asked.
        if getenv("LOG_LEVEL") == nil { setenv("LOG_LEVEL", config.verbose ? "info" : "warning", 1) }
        let description = "cairn serve: serving \(backend.root) at \(config.url)"
            + (config.appendOnly ? " (append-only)" : "") + (authenticator == nil ? " without authentication" : "")
        let app = Application(responder: responder, server: server,
                              configuration: ApplicationConfiguration(address: .hostname(config.host, port: config.port), serverName: "cairn"),
                              onServerRunning: { _ in try? writeStderr(description + "\n") })
        let failure = Locked<(any Error)?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            do { try await app.runService(gracefulShutdownSignals: []) } catch { failure.withLock { $0 = error } }
            done.signal()
        }
        done.wait()
        if let error = failure.withLock({ $0 }) { throw ServeConfiguration.Invalid("cannot serve at \(config.url): \(error)") }
    }
}
