import CairnREST
import CairnStorage

/// Turns a repository location into a store: `rest:URL`, `local:PATH` or a plain path.
enum StoreLocation {
    static func backend(for location: String) throws -> any Backend {
        if location.hasPrefix("rest:") { return try RESTBackend(url: String(location.dropFirst(5))) }
        if location.hasPrefix("local:") { return LocalBackend(path: String(location.dropFirst(6))) }
        return LocalBackend(path: location)
    }
}
