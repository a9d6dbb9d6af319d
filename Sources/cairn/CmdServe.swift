import ArgumentParser
import CairnServer
import CairnStorage
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a repository folder over restic's REST protocol (for cairn and restic clients).",
        discussion: """
        Clients use rest:http://USER:PASS@HOST:PORT/ (one repository, at /). Uploads must hash \
        (SHA-256) to their names and never replace an existing object (403); --append-only also \
        refuses every DELETE except of lock files. Users come from an htpasswd file of bcrypt \
        entries (re-read when it changes); add one with --htpasswd FILE --add-user NAME, which \
        reads the password from CAIRN_SERVE_PASSWORD, else the first line of standard input when \
        it is not a terminal, else asks twice on the terminal. Without --htpasswd, --no-auth must \
        be given. Give --tls-cert and --tls-key (PEM) to serve HTTPS.
        """)

    @Option(help: ArgumentHelp("The repository folder (created by the client's init).", valueName: "dir"))
    var path: String?
    @Option(help: ArgumentHelp("Address to listen on (default 127.0.0.1:8000).", valueName: "host:port"))
    var listen = "127.0.0.1:8000"
    @Option(help: ArgumentHelp("htpasswd file with bcrypt entries ($2y$, $2a$, $2b$).", valueName: "file"))
    var htpasswd: String?
    @Flag(name: .customLong("no-auth"), help: "Serve without authentication (anyone who reaches the port can read and write).")
    var noAuth = false
    @Flag(name: .customLong("append-only"), help: "Refuse DELETE except of lock files (backups cannot be removed through the server).")
    var appendOnly = false
    @Option(name: .customLong("tls-cert"), help: ArgumentHelp("TLS certificate chain (PEM).", valueName: "file"))
    var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: ArgumentHelp("TLS private key (PEM).", valueName: "file"))
    var tlsKey: String?
    @Flag(help: "Log one line per request to standard error.")
    var verbose = false
    @Option(name: .customLong("add-user"), help: ArgumentHelp("Add (or replace) this user in the --htpasswd file and exit.", valueName: "name"))
    var addUser: String?

    func run() throws {
        if let addUser {
            guard let htpasswd else { throw ValidationError("--add-user needs --htpasswd FILE") }
            let password = try Self.newPassword(for: addUser)
            let replaced = try Htpasswd.setUser(addUser, password: password, in: htpasswd)
            stderr("\(replaced ? "replaced" : "added") user \(addUser) in \(htpasswd)")
            return
        }
        guard let path else { throw ValidationError("give the repository folder with --path DIR") }
        if htpasswd != nil && noAuth { throw ValidationError("give --htpasswd or --no-auth, not both") }
        var config = ServeConfiguration(path: path)
        do { try config.setListen(listen) } catch { throw ValidationError("\(error)") }
        config.htpasswd = htpasswd
        config.noAuth = noAuth
        config.appendOnly = appendOnly
        config.tlsCertificate = tlsCert
        config.tlsKey = tlsKey
        config.verbose = verbose
        try Server.run(config)
    }

    /// CAIRN_SERVE_PASSWORD, else standard input's first line (not a terminal), else the terminal, twice.
    static func newPassword(for user: String) throws -> String {
        if let p = ProcessInfo.processInfo.environment["CAIRN_SERVE_PASSWORD"], !p.isEmpty { return p }
        let bytes: [UInt8]
        if isatty(0) != 1 {
            var all: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buf.withUnsafeMutableBytes { Glibc.read(0, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { break }
                all += buf[0..<n]
                if all.contains(10) { break }
            }
            bytes = Password.firstLine(all)
        } else {
            bytes = try Password.promptTTY("password for \(user): ")
            guard try Password.promptTTY("password again: ") == bytes else { throw ValidationError("passwords do not match") }
        }
        guard !bytes.isEmpty else { throw ValidationError("an empty password is not allowed") }
        return String(decoding: bytes, as: UTF8.self)
    }
}
