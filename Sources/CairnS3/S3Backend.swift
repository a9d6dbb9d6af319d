import CairnCore
import CairnCrypto
import CairnHTTP
import CairnStorage

/// An S3 (or S3-compatible) bucket: `s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX]`.
///
/// Keys follow a local repository's layout under PREFIX (`config`, `keys/<name>`,
/// `data/<xx>/<name>`, `index/…`, `snapshots/…`, `locks/…`). Every request is signed with AWS
/// Signature V4, payload included (`x-amz-content-sha256` is the body's SHA-256). Objects of
/// `multipartThreshold` bytes or more (packs, at the default sizes) go up as multipart
/// uploads of `partSize` parts, each part retried on its own, recorded in the attached
/// `UploadJournal` so an interrupted upload is continued (or aborted) later.
public final class S3Backend: MultipartBackend {
    public let address: S3Location
    let signer: SigV4
    let http: HTTPExchange
    let maxKeys: Int
    public let multipartThreshold: Int
    public let partSize: Int
    private let journal = Locked<(any UploadJournal)?>(nil)
    private let counters = Locked(Counters())
    /// Tests only: called before each attempt at sending a part; throwing StorageError.transient
    /// from it is a failed attempt (retried), anything else cuts the upload short.
    let beforePart = Locked<(@Sendable (Int) throws -> Void)?>(nil)

    /// What the backend sent, for tests and progress output.
    public struct Counters: Sendable, Equatable {
        public var partsSent = 0          // UploadPart requests that succeeded
        public var uploadsResumed = 0     // multipart uploads continued from the journal
        public var uploadsCompleted = 0
    }
    public var stats: Counters { counters.withLock { $0 } }

    public var location: String { "s3:\(address.scheme)://\(address.host)/\(address.bucket)" + (address.prefix.isEmpty ? "" : "/" + address.prefix) }

    public static let minimumPartSize = 5 * 1024 * 1024

    /// `url` is what follows `s3:`. Credentials come from AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY and (optionally) AWS_SESSION_TOKEN; the region from
    /// AWS_DEFAULT_REGION or AWS_REGION (us-east-1 when neither is set); the addressing style
    /// from CAIRN_S3_BUCKET_LOOKUP. `maxKeys` is the listing page size.
    public init(url: String, environment: [String: String], http: HTTPExchange = HTTPExchange(), maxKeys: Int = 1000,
                multipartThreshold: Int = 8 * 1024 * 1024, partSize: Int = 8 * 1024 * 1024) throws {
        address = try S3Location(url: url, lookup: environment["CAIRN_S3_BUCKET_LOOKUP"])
        func env(_ k: String) -> String? { environment[k].flatMap { $0.isEmpty ? nil : $0 } }
        guard let ak = env("AWS_ACCESS_KEY_ID"), let sk = env("AWS_SECRET_ACCESS_KEY") else {
            throw StorageError.permission("S3 credentials missing: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials)")
        }
        let region = env("AWS_DEFAULT_REGION") ?? env("AWS_REGION") ?? "us-east-1"
        signer = SigV4(accessKey: ak, secretKey: sk, sessionToken: env("AWS_SESSION_TOKEN"), region: region)
        guard partSize >= 1, multipartThreshold >= 1, maxKeys >= 1 else { throw StorageError.io("S3: part size, threshold and page size must be positive") }
        self.http = http
        self.maxKeys = maxKeys
        self.multipartThreshold = multipartThreshold
        self.partSize = partSize
    }

    // MARK: requests

    /// The headers of a signed request (Host included), and its URL.
    public func signed(_ method: HTTPVerb, key: String?, query: [(String, String)] = [], headers: [(String, String)] = [],
                       body: [UInt8]?, amzDate: String = SigV4.amzDate(.now())) -> (url: String, headers: [(String, String)]) {
        let t = address.target(key: key, query: query)
        let payloadHash = SHA256.hash(body ?? []).hex
        let toSign = [("Host", t.host)] + headers
        let auth = signer.sign(method: method.rawValue, path: t.path, query: query, headers: toSign,
                               payloadHash: payloadHash, amzDate: amzDate)
        return (t.url, toSign + auth)
    }

    /// Sends a signed request, retrying transient failures (each attempt signed anew), and
    /// returns the reply when its status is in `accept`.
    func send(_ method: HTTPVerb, key: String?, query: [(String, String)] = [], headers: [(String, String)] = [],
              body: [UInt8]? = nil, accept: Set<Int> = [200], what: String,
              eachAttempt: (() throws -> Void)? = nil) throws -> HTTPReply {
        try http.retry.run {
            try eachAttempt?()
            let r = signed(method, key: key, query: query, headers: headers, body: body)
            let reply = try http.once(method, r.url, headers: r.headers, body: body)
            guard accept.contains(reply.status) else { throw Self.error(status: reply.status, body: reply.body, what: what + " at " + location) }
            // CompleteMultipartUpload (and CopyObject) can fail after a 200 status.
            if method == .POST, let code = S3XML(reply.body).first("Error").flatMap({ $0.text("Code") }) {
                throw Self.error(status: 500, body: reply.body, what: what + " at " + location, code: code)
            }
            return reply
        }
    }

    /// An S3 reply's meaning for Cairn: its XML error code first, its status otherwise.
    public static func error(status: Int, body: [UInt8], what: String, code: String? = nil) -> StorageError {
        let xml = S3XML(body).first("Error")
        let code = code ?? xml?.text("Code") ?? ""
        let message = xml?.text("Message") ?? ""
        let detail = "\(what): HTTP \(status)" + (code.isEmpty ? "" : " \(code)") + (message.isEmpty ? "" : " (\(message))")
        let credentials = "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), and that the key may use the bucket"
        switch code {
        case "AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId", "ExpiredToken", "InvalidToken", "TokenRefreshRequired", "AllAccessDisabled":
            return .permission(detail + ": " + credentials)
        case "RequestTimeTooSkewed":
            return .permission(detail + ": this machine's clock is more than 15 minutes off")
        case "AuthorizationHeaderMalformed":
            return .permission(detail + ": check AWS_DEFAULT_REGION (or AWS_REGION) against the bucket's region")
        case "NoSuchBucket":
            return .notFound(detail + ": the bucket does not exist (cairn init creates it)")
        case "NoSuchKey", "NoSuchUpload":
            return .notFound(detail)
        case "QuotaExceeded", "EntityTooLarge", "ServiceQuotaExceeded":
            return .quota(detail)
        case "SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "OperationAborted":
            return .transient(detail)
        default: break
        }
        switch status {
        case 401, 403: return .permission(detail + ": " + credentials)
        case 404: return .notFound(detail)
        case 400, 405, 409, 411, 412, 413, 416, 501: return .io(detail)
        default: return .transient(detail)
        }
    }

    // MARK: Backend

    public func create() throws {
        do {
            _ = try stat(.config, "config")
            throw StorageError.io("a repository already exists at \(location)")
        } catch StorageError.notFound {}
        let bucket = try send(.HEAD, key: nil, accept: [200, 404], what: "look up bucket \(address.bucket)")
        guard bucket.status == 404 else { return }
        var body: [UInt8]?
        if signer.region != "us-east-1" {
            body = Array("<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>\(S3XML.escape(signer.region))</LocationConstraint></CreateBucketConfiguration>".utf8)
        }
        do {
            _ = try send(.PUT, key: nil, body: body, what: "create bucket \(address.bucket)")
        } catch StorageError.io(let m) where m.contains("BucketAlreadyOwnedByYou") {}
    }

    public func list(_ type: FileType) throws -> [FileInfo] {
        if type == .config { return (try? stat(.config, "config")).map { [$0] } ?? [] }
        return try listKeys(prefix: address.keyPrefix(type)).map { key, size in
            FileInfo(name: String(key.split(separator: "/").last ?? ""), size: size)
        }.filter { !$0.name.isEmpty }
    }

    /// Every key under `prefix` with its size (ListObjectsV2, page by page).
    public func listKeys(prefix: String) throws -> [(String, UInt64)] {
        var out: [(String, UInt64)] = []
        var token: String?
        repeat {
            var q = [("list-type", "2"), ("prefix", prefix), ("max-keys", String(maxKeys))]
            if let token { q.append(("continuation-token", token)) }
            let reply = try send(.GET, key: nil, query: q, what: "list \(prefix)")
            let xml = S3XML(reply.body)
            for c in xml.all("Contents") {
                guard let key = c.text("Key"), let size = c.text("Size").flatMap({ UInt64($0) }) else {
                    throw StorageError.io("list \(prefix) at \(location): a listing entry without Key or Size")
                }
                out.append((key, size))
            }
            token = xml.text("IsTruncated") == "true" ? xml.text("NextContinuationToken") : nil
            if xml.text("IsTruncated") == "true" && (token ?? "").isEmpty {
                throw StorageError.io("list \(prefix) at \(location): truncated listing without a continuation token")
            }
        } while token != nil
        return out
    }

    public func stat(_ type: FileType, _ name: String) throws -> FileInfo {
        let reply = try send(.HEAD, key: address.key(type, name), what: "stat \(address.key(type, name))")
        guard let n = reply.header("Content-Length").flatMap({ UInt64($0) }) else {
            throw StorageError.io("stat \(address.key(type, name)) at \(location): no Content-Length")
        }
        return FileInfo(name: name, size: n)
    }

    public func read(_ type: FileType, _ name: String, offset: UInt64, length: Int?) throws -> [UInt8] {
        let key = address.key(type, name)
        var h: [(String, String)] = []
        if length == 0 { return [] }
        if let range = ByteRange.header(offset: offset, length: length) { h.append(range) }
        let reply = try send(.GET, key: key, headers: h, accept: [200, 206], what: "read \(key)")
        return try ByteRange.bytes(of: reply, offset: offset, length: length, what: "read \(key) at \(location)")
    }

    public func write(_ type: FileType, _ name: String, _ bytes: [UInt8]) throws {
        let key = address.key(type, name)
        if bytes.count >= multipartThreshold && bytes.count > partSize {
            try writeMultipart(key: key, bytes)
        } else {
            _ = try send(.PUT, key: key, headers: [("Content-Type", "application/octet-stream")], body: bytes, what: "write \(key)")
        }
    }

    public func delete(_ type: FileType, _ name: String) throws {
        let key = address.key(type, name)
        _ = try send(.DELETE, key: key, accept: [200, 204, 404], what: "delete \(key)")
    }

    // MARK: multipart

    public func attach(journal: any UploadJournal) { self.journal.withLock { $0 = journal } }

    var attachedJournal: (any UploadJournal)? { journal.withLock { $0 } }

    /// Uploads `bytes` to `key` in parts. When the journal holds an unfinished upload of the
    /// same key (same name, same content), that upload is continued: the parts the store
    /// already has with the right MD5 are not sent again. Parts are checked with ListParts
    /// before completing; a part missing or different is sent again. On failure the upload
    /// stays recorded, for the next write of the same object or `cleanUpInterruptedUploads`.
    func writeMultipart(key: String, _ bytes: [UInt8]) throws {
        let journal = attachedJournal
        let ranges = stride(from: 0, to: bytes.count, by: partSize).map { $0 ..< min(bytes.count, $0 + partSize) }
        var md5: [Int: String] = [:]
        for (i, r) in ranges.enumerated() { md5[i + 1] = Hex.encode(MD5.hash(Array(bytes[r]))) }

        var uploadID: String?
        var stored: [Int: String] = [:]
        if let journal, let earlier = journal.unfinishedUploads(store: location).last(where: { $0.object == key }) {
            do {
                stored = try listParts(key: key, uploadID: earlier.uploadID)
                uploadID = earlier.uploadID
                counters.withLock { $0.uploadsResumed += 1 }
            } catch StorageError.notFound {
                journal.uploadEnded(store: location, object: key, uploadID: earlier.uploadID)   // gone: start again
            }
        }
        let id: String
        if let uploadID {
            id = uploadID
        } else {
            let reply = try send(.POST, key: key, query: [("uploads", "")], headers: [("Content-Type", "application/octet-stream")],
                                 body: [], what: "start upload of \(key)")
            guard let started = S3XML(reply.body).text("UploadId"), !started.isEmpty else {
                throw StorageError.io("start upload of \(key) at \(location): no UploadId in the reply")
            }
            id = started
            journal?.uploadStarted(store: location, object: key, uploadID: id)
        }

        var etags: [Int: String] = [:]
        func sendPart(_ n: Int) throws {
            let body = Array(bytes[ranges[n - 1]])
            let hook = beforePart.withLock { $0 }
            let reply = try send(.PUT, key: key, query: [("partNumber", String(n)), ("uploadId", id)], body: body,
                                 what: "upload part \(n) of \(key)", eachAttempt: hook.map { h in { try h(n) } })
            let etag = Self.unquoted(reply.header("ETag") ?? "")
            guard !etag.isEmpty else { throw StorageError.io("upload part \(n) of \(key) at \(location): no ETag in the reply") }
            etags[n] = etag
            counters.withLock { $0.partsSent += 1 }
            journal?.partFinished(store: location, object: key, uploadID: id, part: n, etag: etag)
        }
        for n in 1...ranges.count {
            if let have = stored[n], have == md5[n] { etags[n] = have; continue }
            try sendPart(n)
        }
        // What the store holds now; anything missing or different goes again, once.
        let now = try listParts(key: key, uploadID: id)
        for n in 1...ranges.count where now[n] != etags[n] {
            try sendPart(n)
        }
        let parts = (1...ranges.count).map { "<Part><PartNumber>\($0)</PartNumber><ETag>\"\(S3XML.escape(etags[$0]!))\"</ETag></Part>" }
        let body = Array(("<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">" + parts.joined() + "</CompleteMultipartUpload>").utf8)
        _ = try send(.POST, key: key, query: [("uploadId", id)], headers: [("Content-Type", "application/xml")], body: body,
                     what: "complete upload of \(key)")
        counters.withLock { $0.uploadsCompleted += 1 }
        journal?.uploadEnded(store: location, object: key, uploadID: id)
    }

    /// The parts the store holds for an upload: part number → ETag (unquoted, lower case).
    public func listParts(key: String, uploadID: String) throws -> [Int: String] {
        var out: [Int: String] = [:]
        var marker: String?
        repeat {
            var q = [("uploadId", uploadID), ("max-parts", "1000")]
            if let marker { q.append(("part-number-marker", marker)) }
            let xml = S3XML(try send(.GET, key: key, query: q, what: "list parts of \(key)").body)
            for p in xml.all("Part") {
                guard let n = p.text("PartNumber").flatMap({ Int($0) }), let etag = p.text("ETag") else { continue }
                out[n] = Self.unquoted(etag)
            }
            marker = xml.text("IsTruncated") == "true" ? xml.text("NextPartNumberMarker") : nil
        } while marker != nil
        return out
    }

    /// An upload in progress under the prefix.
    public struct Upload: Sendable, Equatable {
        public var key: String
        public var uploadID: String
        public var initiated: Timestamp?
    }

    /// Every multipart upload in progress under the store's prefix (ListMultipartUploads).
    public func listUploads() throws -> [Upload] {
        var out: [Upload] = []
        var markers: (String, String)?
        repeat {
            var q = [("uploads", ""), ("prefix", address.keyPrefix(nil)), ("max-uploads", String(min(maxKeys, 1000)))]
            if let markers { q += [("key-marker", markers.0), ("upload-id-marker", markers.1)] }
            let xml = S3XML(try send(.GET, key: nil, query: q, what: "list uploads").body)
            for u in xml.all("Upload") {
                guard let key = u.text("Key"), let id = u.text("UploadId") else { continue }
                out.append(Upload(key: key, uploadID: id, initiated: u.text("Initiated").flatMap { Timestamp.parse($0) }))
            }
            markers = nil
            if xml.text("IsTruncated") == "true", let k = xml.text("NextKeyMarker"), let u = xml.text("NextUploadIdMarker"), !(k.isEmpty && u.isEmpty) {
                markers = (k, u)
            }
        } while markers != nil
        return out
    }

    /// Aborts an upload; true if the store still had it.
    @discardableResult
    public func abortUpload(key: String, uploadID: String) throws -> Bool {
        let reply = try send(.DELETE, key: key, query: [("uploadId", uploadID)], accept: [200, 204, 404], what: "abort upload of \(key)")
        return reply.status != 404
    }

    @discardableResult
    public func cleanUpInterruptedUploads(olderThanSeconds: Int64) throws -> Int {
        var count = 0
        if let journal = attachedJournal {
            for u in journal.unfinishedUploads(store: location) {
                if try abortUpload(key: u.object, uploadID: u.uploadID) { count += 1 }
                journal.uploadEnded(store: location, object: u.object, uploadID: u.uploadID)
            }
        }
        for u in Self.stale(try listUploads(), now: .now(), olderThanSeconds: olderThanSeconds) {
            if try abortUpload(key: u.key, uploadID: u.uploadID) { count += 1 }
        }
        return count
    }

    /// The uploads started at least `olderThanSeconds` before `now`. One of unknown age may be
    /// another machine's, in progress: it is left alone.
    static func stale(_ uploads: [Upload], now: Timestamp, olderThanSeconds: Int64) -> [Upload] {
        let cutoff = now.seconds - olderThanSeconds
        return uploads.filter { u in u.initiated.map { $0.seconds <= cutoff } ?? false }
    }

    static func unquoted(_ etag: String) -> String {
        var s = Substring(etag)
        if s.hasPrefix("&quot;") { s = s.dropFirst(6) }
        if s.hasSuffix("&quot;") { s = s.dropLast(6) }
        return String(s.filter { $0 != "\"" }).lowercased()
    }
}
