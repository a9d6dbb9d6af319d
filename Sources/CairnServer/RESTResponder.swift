import CairnCore
import CairnCrypto
import CairnStorage
import Hummingbird
#if canImport(Glibc)
import Glibc
#endif

/// restic's REST protocol (v1 and v2) for one repository at `/`, over a LocalBackend:
///
///     POST   /?create=true            create the layout
///     HEAD|GET|POST|DELETE /config
///     GET    /{type}/                 listing (v2 when Accept asks for it)
///     HEAD|GET|POST|DELETE /{type}/{name}
///
/// Types: data, keys, locks, snapshots, index. Uploads must hash (SHA-256) to their name
/// (config excepted) and never replace an existing object; append-only refuses DELETE
/// except of locks. Statuses follow restic's rest-server.
/// The request context: Hummingbird's, plus the client's address (for failed-login throttling).
struct ServeRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let peer: String?
    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peer = source.channel.remoteAddress?.ipAddress
    }
}

struct RESTResponder: HTTPResponder {
    typealias Context = ServeRequestContext

    let backend: LocalBackend
    let appendOnly: Bool
    let maxUpload: Int
    let authenticator: Authenticator?
    let verbose: Bool
    /// Disk work (reads, fsync'd writes) runs here, off the server's threads.
    let pool: WorkerPool

    static let v2 = "application/vnd.x.restic.rest.v2"
    static let v1 = "application/vnd.x.restic.rest.v1"

    func respond(to request: Request, context: Context) async throws -> Response {
        let started = ContinuousClock.now
        var user: String?
        let response: Response
        if let authenticator {
            // Not on the disk pool: remembered credentials are answered at once, and bcrypt
            // has its own bounded threads.
            switch await authenticator.authenticate(request.headers[.authorization], peer: context.peer) {
            case .allowed(let u): user = u; response = await route(request)
            case .denied(let u): user = u; response = Self.unauthorized()
            case .throttled(let u, let seconds):
                user = u
                response = Self.text(.tooManyRequests, "429 Too Many Requests: too many failed logins from this address\n",
                                     headers: [.retryAfter: "\(seconds)"])
            case .busy(let u):
                user = u
                response = Self.text(.serviceUnavailable, "503 Service Unavailable: too many logins being checked\n",
                                     headers: [.retryAfter: "1"])
            }
        } else {
            response = await route(request)
        }
        if verbose {
            let ms = (ContinuousClock.now - started).components
            let millis = ms.seconds * 1000 + ms.attoseconds / 1_000_000_000_000_000
            try? writeStderr("\(request.method) \(request.uri.string) \(response.status.code) \(response.headers[.contentLength] ?? "-") \(user ?? "-") \(millis)ms\n")
        }
        return response
    }

    static func unauthorized() -> Response {
        text(.unauthorized, "401 Unauthorized\n", headers: [.wwwAuthenticate: "Basic realm=\"cairn\""])
    }

    static func text(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) -> Response {
        var h = headers
        h[.contentType] = "text/plain; charset=utf-8"
        return Response(status: status, headers: h, body: ResponseBody(byteBuffer: ByteBuffer(string: message)))
    }

    static func status(_ s: HTTPResponse.Status) -> Response { text(s, "\(s.code) \(s.reasonPhrase)\n") }

    /// Runs blocking work on the pool and waits for it without holding a server thread.
    func blocking<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (c: CheckedContinuation<T, Never>) in
            do { try pool.submit { c.resume(returning: body()) } }
            catch { c.resume(returning: body()) }   // the pool never fails its jobs; be safe anyway
        }
    }

    /// The object a path names: `/config` or `/{type}/{name}`, or a listing `/{type}/`.
    enum Target { case root, config, listing(FileType), object(FileType, String) }

    static func target(_ path: String) -> Target? {
        if path == "/" || path.isEmpty { return .root }
        if path == "/config" { return .config }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].isEmpty,
              let type = FileType.allCases.first(where: { $0 != .config && $0.folder == parts[1] }) else { return nil }
        if parts[2].isEmpty { return .listing(type) }
        // Every object restic or Cairn writes is named by 64 lower-case hex digits; anything
        // else ("..", other folders) is not an object here.
        guard isObjectName(parts[2]) else { return nil }
        return .object(type, String(parts[2]))
    }

    static func isObjectName(_ s: some StringProtocol) -> Bool {
        s.utf8.count == 64 && s.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    func route(_ request: Request) async -> Response {
        guard let target = Self.target(request.uri.path) else { return Self.status(.notFound) }
        switch (request.method, target) {
        case (.post, .root):
            guard request.uri.queryParameters["create"] == "true" else { return Self.status(.badRequest) }
            return await create()
        case (.head, .config), (.get, .config):
            return await serve(request, .config, "config")
        case (.post, .config):
            return await upload(request, .config, "config")
        case (.delete, .config):
            return await remove(.config, "config")
        case (.get, .listing(let type)):
            return await list(type, v2: request.headers[.accept]?.contains(Self.v2) ?? false)
        case (.head, .object(let type, let name)), (.get, .object(let type, let name)):
            return await serve(request, type, name)
        case (.post, .object(let type, let name)):
            return await upload(request, type, name)
        case (.delete, .object(let type, let name)):
            return await remove(type, name)
        default:
            return Self.status(.methodNotAllowed)
        }
    }

    /// rest-server's mapping of file-system errors.
    static func failure(_ error: any Error) -> Response {
        switch error {
        case StorageError.notFound: return status(.notFound)
        case StorageError.quota: return text(.init(code: 507, reasonPhrase: "Insufficient Storage"), "507 Insufficient Storage\n")
        default: return text(.internalServerError, "500 Internal Server Error\n")
        }
    }

    func logError(_ what: String, _ error: any Error) {
        try? writeStderr("cairn serve: \(what): \(error)\n")
    }

    func create() async -> Response {
        let backend = backend
        let result: (any Error)? = await blocking {
            if backend.exists(.config, "config") { return nil }   // already a repository: nothing to do
            do { try backend.create(); return nil } catch { return error }
        }
        if let result { logError("create \(backend.root)", result); return Self.failure(result) }
        return Response(status: .ok)
    }

    func list(_ type: FileType, v2: Bool) async -> Response {
        let backend = backend
        let result: Result<[FileInfo], any Error>? = await blocking {
            var st = stat()
            guard stat(backend.root, &st) == 0 else { return nil }   // no repository here
            return Result { try backend.list(type) }
        }
        guard let result else { return Self.status(.notFound) }
        switch result {
        case .failure(let e): logError("list \(type.folder)", e); return Self.failure(e)
        case .success(let files):
            var json = "["
            // Only object names (hex): stray files in the folders are not objects, and a name
            // needs no JSON escaping.
            for (i, f) in files.filter({ Self.isObjectName($0.name) }).sorted(by: { $0.name < $1.name }).enumerated() {
                if i > 0 { json += "," }
                json += v2 ? "{\"name\":\"\(f.name)\",\"size\":\(f.size)}" : "\"\(f.name)\""
            }
            json += "]"
            return Response(status: .ok, headers: [.contentType: v2 ? Self.v2 : Self.v1],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: json)))
        }
    }

    func serve(_ request: Request, _ type: FileType, _ name: String) async -> Response {
        let backend = backend
        let isHead = request.method == .head
        let rangeHeader = request.headers[.range]
        let result: Result<Response, any Error> = await blocking {
            Result {
                let size = try backend.stat(type, name).size
                var headers: HTTPFields = [.acceptRanges: "bytes", .contentType: "application/octet-stream"]
                if isHead {
                    headers[.contentLength] = String(size)
                    return Response(status: .ok, headers: headers)
                }
                switch ByteRange(header: rangeHeader, size: size) {
                case .whole:
                    let bytes = try backend.read(type, name)
                    return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
                case .part(let start, let end):
                    let bytes = try backend.read(type, name, offset: start, length: Int(end - start + 1))
                    headers[.contentRange] = "bytes \(start)-\(end)/\(size)"
                    return Response(status: .partialContent, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
                case .unsatisfiable:
                    headers[.contentRange] = "bytes */\(size)"
                    return Response(status: .rangeNotSatisfiable, headers: headers)
                }
            }
        }
        switch result {
        case .success(let r): return r
        case .failure(let e):
            if case StorageError.notFound = e {} else { logError("read \(type.folder)/\(name)", e) }
            return isHead ? Response(status: Self.failure(e).status) : Self.failure(e)
        }
    }

    func upload(_ request: Request, _ type: FileType, _ name: String) async -> Response {
        let backend = backend
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxUpload {
            return Self.text(.contentTooLarge, "413 Content Too Large: at most \(maxUpload) bytes\n")
        }
        // Objects are never replaced, whatever the mode (403, as rest-server). The one
        // exception is idempotent: the same bytes again under a hash name (a client retrying
        // an upload whose reply was lost) get 200 and nothing is written.
        let existed = await blocking({ backend.exists(type, name) })
        if existed && type == .config { return Self.status(.forbidden) }
        var bytes: [UInt8] = []
        if let length = request.headers[.contentLength].flatMap({ Int($0) }) { bytes.reserveCapacity(length) }
        do {
            for try await chunk in request.body {
                guard bytes.count + chunk.readableBytes <= maxUpload else {
                    return Self.text(.contentTooLarge, "413 Content Too Large: at most \(maxUpload) bytes\n")
                }
                chunk.withUnsafeReadableBytes { bytes.append(contentsOf: $0) }
            }
        } catch {
            return Self.status(.badRequest)   // the client went away mid-body
        }
        let data = bytes
        let result: Response = await blocking {
            if type != .config {
                let digest = SHA256.hash(data).hex
                guard digest == name else {
                    if existed { return Self.status(.forbidden) }
                    return Self.text(.badRequest, "400 Bad Request: the content's SHA-256 is \(digest), not its name\n")
                }
                if existed { return Response(status: .ok) }   // the same bytes: already stored
            }
            // A concurrent upload of the same name may have won meanwhile (same bytes, by the
            // hash check; config only once).
            if backend.exists(type, name) { return type == .config ? Self.status(.forbidden) : Response(status: .ok) }
            do { try backend.write(type, name, data) } catch {
                self.logError("write \(type.folder)/\(name)", error)
                return Self.failure(error)
            }
            return Response(status: .ok)
        }
        return result
    }

    func remove(_ type: FileType, _ name: String) async -> Response {
        if appendOnly && type != .lock { return Self.status(.forbidden) }
        let backend = backend
        // Deleting a missing object succeeds (the store contract; clients retry deletes).
        let result: (any Error)? = await blocking {
            do { try backend.delete(type, name); return nil } catch { return error }
        }
        if let result {
            logError("delete \(type.folder)/\(name)", result)
            return Self.failure(result)
        }
        return Response(status: .ok)
    }
}
