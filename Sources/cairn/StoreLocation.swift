import CairnREST
import CairnSFTP
import CairnStorage
import FoundationEssentials

/// Turns a repository location into a store: `rest:URL`, `sftp:[USER@]HOST[:PORT]:/PATH`,
/// `sftp://...`, `local:PATH` or a plain path.
enum StoreLocation {
    static func backend(for location: String) throws -> any Backend {
        if location.hasPrefix("sftp:") {
            return try SFTPBackend(location: String(location.dropFirst(5)),
                                   command: ProcessInfo.processInfo.environment["CAIRN_SFTP_COMMAND"])
        }
        if location.hasPrefix("rest:") { return try RESTBackend(url: String(location.dropFirst(5))) }
        if location.hasPrefix("local:") { return LocalBackend(path: String(location.dropFirst(6))) }
        return LocalBackend(path: location)
    }
}
