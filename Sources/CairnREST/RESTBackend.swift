import CairnCore
import CairnHTTP
import CairnStorage
import FoundationEssentials

/// A store speaking restic's REST protocol v2 (rest-server, `rclone serve restic`,
/// `cairn serve`): `rest:http(s)://[USER:PASS@]HOST:PORT/PATH/`.
///
/// Objects: `{base}config`, `{base}{keys|locks|snapshots|index|data}/{name}`; listings are
/// `GET {base}{type}/` with the v2 Accept header (`[{"name": …, "size": …}]`); reads honour
/// `Range`; writes are `POST` bodies; the server makes a write atomic and durable.
public final class RESTBackend: Backend {
    public let base: String          // ends in "/", credentials removed
    let authorization: String?
    let http: HTTPExchange
    public var location: String { "rest:" + base }
    /// The server decides how it writes: rest-server uses a temporary file, rclone serve
    /// restic 1.60 writes in place, so a cut upload can leave part of a pack under its name.
    public var writesAtomically: Bool { false }

    static let v2 = ("Accept", "application/vnd.x.restic.rest.v2")

    /// `url` is what follows `rest:`.
    public init(url: String, http: HTTPExchange = HTTPExchange()) throws {
        let schemeLength = url.hasPrefix("http://") ? 7 : url.hasPrefix("https://") ? 8 : 0
        guard schemeLength > 0 else { throw StorageError.io("rest: needs http:// or https://, got \(url)") }
        var rest = String(url.dropFirst(schemeLength))
        var auth: String?
        let hostEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        if let at = rest[..<hostEnd].lastIndex(of: "@") {
            let userinfo = String(rest[..<at])
            rest = String(rest[rest.index(after: at)...])
            auth = "Basic " + Data(Self.percentDecoded(userinfo).utf8).base64EncodedString()
        }
        if !rest.hasSuffix("/") { rest += "/" }
        base = String(url.prefix(schemeLength)) + rest
        authorization = auth
        self.http = http
    }

    static func percentDecoded(_ s: String) -> String {
        var out: [UInt8] = []
        var bytes = Array(s.utf8)[...]
        while let b = bytes.popFirst() {
            if b == 37, bytes.count >= 2, let v = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) {
                out.append(v); bytes = bytes.dropFirst(2)
            } else { out.append(b) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    var headers: [(String, String)] { authorization.map { [("Authorization", $0)] } ?? [] }

    func url(_ type: FileType, _ name: String) -> String {
        type == .config ? base + "config" : base + type.folder + "/" + name
    }

    public func create() throws {
        if exists(.config, "config") { throw StorageError.io("a repository already exists at \(location)") }
        _ = try http.send(.POST, base + "?create=true", headers: headers, accept: [200, 201], what: "create \(location)")
    }

    struct Listed: Decodable { var name: String; var size: UInt64 }

    public func list(_ type: FileType) throws -> [FileInfo] {
        if type == .config { return (try? stat(.config, "config")).map { [$0] } ?? [] }
        let reply = try http.send(.GET, base + type.folder + "/", headers: headers + [Self.v2], accept: [200, 404],
                                  what: "list \(type.folder) at \(location)")
        if reply.status == 404 { return [] }
        do {
            return try JSONDecoder().decode([Listed].self, from: Data(reply.body)).map { FileInfo(name: $0.name, size: $0.size) }
        } catch {
            throw StorageError.io("list \(type.folder) at \(location): not a v2 listing (\(error))")
        }
    }

    public func stat(_ type: FileType, _ name: String) throws -> FileInfo {
        let reply = try http.send(.HEAD, url(type, name), headers: headers, what: "stat \(type.folder)/\(name)")
        guard let n = reply.header("Content-Length").flatMap({ UInt64($0) }) else {
            throw StorageError.io("stat \(type.folder)/\(name) at \(location): no Content-Length")
        }
        return FileInfo(name: name, size: n)
    }

    public func read(_ type: FileType, _ name: String, offset: UInt64, length: Int?) throws -> [UInt8] {
        var h = headers
        if length == 0 { return [] }
        if let range = ByteRange.header(offset: offset, length: length) { h.append(range) }
        let reply = try http.send(.GET, url(type, name), headers: h, accept: [200, 206], what: "read \(type.folder)/\(name)")
        return try ByteRange.bytes(of: reply, offset: offset, length: length, what: "read \(type.folder)/\(name) at \(location)")
    }

    public func write(_ type: FileType, _ name: String, _ bytes: [UInt8]) throws {
        _ = try http.send(.POST, url(type, name), headers: headers + [("Content-Type", "application/octet-stream")],
                          body: bytes, accept: [200, 201], what: "write \(type.folder)/\(name)")
    }

    public func delete(_ type: FileType, _ name: String) throws {
        _ = try http.send(.DELETE, url(type, name), headers: headers, accept: [200, 204, 404], what: "delete \(type.folder)/\(name)")
    }
}
