import AsyncHTTPClient
import CairnCore
import CairnStorage
import NIOCore
import NIOHTTP1

/// The methods the stores use.
public enum HTTPVerb: String, Sendable {
    case GET, HEAD, POST, PUT, DELETE
    var nio: HTTPMethod {
        switch self { case .GET: .GET; case .HEAD: .HEAD; case .POST: .POST; case .PUT: .PUT; case .DELETE: .DELETE }
    }
}

/// One HTTP response, body collected; header names compared case-insensitively.
public struct HTTPReply: Sendable {
    public var status: Int
    public var headerFields: [(String, String)]
    public var body: [UInt8]
    public func header(_ name: String) -> String? {
        headerFields.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}


/// Blocking HTTP exchanges over AsyncHTTPClient's shared client, for Cairn's thread-based
/// pipelines (never called from an event loop). Statuses and connection failures become
/// `StorageError`s sorted by what a caller can do: retry (transient), or not.
public struct HTTPExchange: Sendable {
    public var timeout: TimeAmount
    public var retry: RetryPolicy

    public init(timeout: TimeAmount = .seconds(120), retry: RetryPolicy = RetryPolicy()) {
        self.timeout = timeout; self.retry = retry
    }

    public init(timeoutSeconds: Int, retry: RetryPolicy) {
        self.init(timeout: .seconds(Int64(timeoutSeconds)), retry: retry)
    }

    /// Sends the request (retrying transient failures) and returns the reply when its status
    /// is one of `accept`; other statuses throw.
    public func send(_ method: HTTPVerb, _ url: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
                     accept: Set<Int> = [200], what: String) throws -> HTTPReply {
        try retry.run {
            let reply = try once(method, url, headers: headers, body: body)
            guard accept.contains(reply.status) else { throw Self.error(status: reply.status, body: reply.body, what: what) }
            return reply
        }
    }

    /// One attempt, any status.
    public func once(_ method: HTTPVerb, _ url: String, headers: [(String, String)] = [], body: [UInt8]? = nil) throws -> HTTPReply {
        var request: HTTPClient.Request
        do { request = try HTTPClient.Request(url: url, method: method.nio) }
        catch { throw StorageError.io("bad URL \(url): \(error)") }
        for (k, v) in headers { request.headers.add(name: k, value: v) }
        if let body { request.body = .bytes(body) }
        do {
            let response = try HTTPClient.shared.execute(request: request, deadline: .now() + timeout).wait()
            var buffer = response.body ?? ByteBuffer()
            let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
            return HTTPReply(status: Int(response.status.code), headerFields: response.headers.map { ($0.name, $0.value) }, body: bytes)
        } catch {
            // Timeouts, connection refused or reset, DNS, TLS handshake: the network, not the store.
            throw StorageError.transient("\(method) \(Self.redacted(url)): \(error)")
        }
    }

    /// The status's meaning for a store (restic's REST client treats the same set as final).
    public static func error(status: Int, body: [UInt8], what: String) -> StorageError {
        let detail = String(decoding: body.prefix(300), as: UTF8.self).trimmingSpaces
        let message = "\(what): HTTP \(status)" + (detail.isEmpty ? "" : " (\(detail))")
        switch status {
        case 401, 403: return .permission(message + ": check the user name and password, or the store's access rights")
        case 404: return .notFound(message)
        case 507: return .quota(message)
        case 400, 405, 409, 411, 413, 416: return .io(message)
        default: return .transient(message)
        }
    }

    /// The URL without a password (for messages).
    public static func redacted(_ url: String) -> String {
        let bytes = Array(url.utf8)
        guard let sep = (0..<max(0, bytes.count - 2)).first(where: { bytes[$0] == 58 && bytes[$0 + 1] == 47 && bytes[$0 + 2] == 47 }) else { return url }
        let hostStart = sep + 3
        let hostEnd = bytes[hostStart...].firstIndex(of: 47) ?? bytes.count
        guard let at = bytes[hostStart..<hostEnd].lastIndex(of: 64) else { return url }
        let userEnd = bytes[hostStart..<at].firstIndex(of: 58) ?? at
        let head = String(decoding: bytes[..<userEnd], as: UTF8.self)
        return head + ":***" + String(decoding: bytes[at...], as: UTF8.self)
    }
}

extension String {
    var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" }
            .reversed().drop { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" }.reversed())
    }
}

/// Ranged reads, as every HTTP store does them: the `Range` header for `length` bytes from
/// `offset` (nil: the rest of the object), and the wanted bytes of the reply (a server that
/// ignored `Range` answered 200 with the whole object).
public enum ByteRange {
    public static func header(offset: UInt64, length: Int?) -> (String, String)? {
        guard offset > 0 || length != nil else { return nil }
        if let length { return ("Range", "bytes=\(offset)-\(offset + UInt64(max(1, length)) - 1)") }
        return ("Range", "bytes=\(offset)-")
    }

    public static func bytes(of reply: HTTPReply, offset: UInt64, length: Int?, what: String) throws -> [UInt8] {
        var body = reply.body
        // rclone serve restic answers a range past the end with 206, no bytes and
        // `Content-Range: bytes 1100-999/1000`: its total says so.
        if let range = reply.header("Content-Range"), let slash = range.lastIndex(of: "/"),
           let total = UInt64(range[range.index(after: slash)...]), offset > total {
            throw StorageError.io("\(what): offset \(offset) is past the end (\(total) bytes)")
        }
        if (offset > 0 || length != nil) && reply.status == 200 {
            // The server ignored the range (rclone serve restic does, for one past the end).
            guard offset <= UInt64(body.count) else { throw StorageError.io("\(what): offset \(offset) is past the end (\(body.count) bytes)") }
            let start = Int(offset)
            let end = length.map { min(body.count, start + $0) } ?? body.count
            body = Array(body[start..<end])
        }
        if let length, body.count != length { throw StorageError.io("\(what): \(body.count) of \(length) bytes") }
        return body
    }
}
