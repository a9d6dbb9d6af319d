import CairnCore
import CairnCrypto
import CairnHTTP
@testable import CairnS3
import CairnStorage
import Foundation
import Testing

/// An UploadJournal in memory (the repository's is SQLite; the contract is the same).
final class MemoryJournal: UploadJournal, @unchecked Sendable {
    struct Entry { var store: String; var upload: UnfinishedUpload; var ended = false }
    let entries = Locked<[Entry]>([])

    func uploadStarted(store: String, object: String, uploadID: String) {
        entries.withLock { $0.append(Entry(store: store, upload: UnfinishedUpload(object: object, uploadID: uploadID, parts: [:]))) }
    }
    func partFinished(store: String, object: String, uploadID: String, part: Int, etag: String) {
        entries.withLock { e in
            for i in e.indices where e[i].store == store && e[i].upload.uploadID == uploadID { e[i].upload.parts[part] = etag }
        }
    }
    func uploadEnded(store: String, object: String, uploadID: String) {
        entries.withLock { e in
            for i in e.indices where e[i].store == store && e[i].upload.uploadID == uploadID { e[i].ended = true }
        }
    }
    func unfinishedUploads(store: String) -> [UnfinishedUpload] {
        entries.withLock { $0.filter { $0.store == store && !$0.ended }.map(\.upload) }
    }
}

struct InjectedCut: Error {}

@Suite(.serialized) struct S3Tests {
    static let mib = 1024 * 1024

    static func backend(_ server: MotoServer, _ path: String, secret: String? = nil, maxKeys: Int = 1000,
                        threshold: Int = 5 * mib, partSize: Int = 5 * mib) throws -> S3Backend {
        try S3Backend(url: String(server.url(path).dropFirst(3)), environment: server.environment(secret: secret),
                      http: HTTPExchangeForTests.quick, maxKeys: maxKeys, multipartThreshold: threshold, partSize: partSize)
    }

    @Test func backupRestoreAndCheckThroughMoto() throws {
        let server = try MotoServer()
        let tmp = TempDir()
        let repo = server.url("cairn-bucket/some/prefix")
        // 20 MB of noise: the default 16 MiB packs go up as multipart uploads (8 MiB parts).
        Fixtures.write(tmp.sub("src/big"), Fixtures.random(20_000_000, seed: "s3-big"))
        Fixtures.write(tmp.sub("src/dir/small"), Fixtures.random(5_000, seed: "s3-small"))
        var r = try CLITests.cairn(["init", "--kdf-n", "1024"], repo: repo, env: server.environment())
        #expect(r.status == 0, "\(r.err)")
        r = try CLITests.cairn(["init", "--kdf-n", "1024"], repo: repo, env: server.environment())
        #expect(r.status != 0 && r.err.contains("already exists"), "\(r.err)")   // a second init refuses
        r = try CLITests.cairn(["backup", tmp.sub("src")], repo: repo, env: server.environment())
        #expect(r.status == 0, "\(r.err)")
        r = try CLITests.cairn(["check", "--read-data"], repo: repo, env: server.environment())
        #expect(r.status == 0, "\(r.out) \(r.err)")
        r = try CLITests.cairn(["restore", "latest", "--target", tmp.sub("out")], repo: repo, env: server.environment())
        #expect(r.status == 0, "\(r.err)")
        for f in ["big", "dir/small"] {
            let same = Fixtures.read(tmp.sub("out") + tmp.sub("src/" + f)) == Fixtures.read(tmp.sub("src/" + f))
            #expect(same, "\(f)")
        }
        // The bucket holds a local repository's layout under the prefix.
        let b = try Self.backend(server, "cairn-bucket/some/prefix")
        let keys = try b.listKeys(prefix: "").map(\.0)
        #expect(keys.contains("some/prefix/config"))
        #expect(keys.contains { $0.hasPrefix("some/prefix/keys/") })
        #expect(keys.contains { $0.hasPrefix("some/prefix/snapshots/") })
        #expect(keys.contains { $0.hasPrefix("some/prefix/index/") })
        let packs = keys.filter { $0.hasPrefix("some/prefix/data/") }
        #expect(!packs.isEmpty)
        for k in packs {
            let parts = k.split(separator: "/")
            #expect(parts.count == 5 && parts[4].hasPrefix(parts[3]), "\(k)")
        }
        #expect(keys.allSatisfy { $0.hasPrefix("some/prefix/") })
        // Packs of 8 MiB or more went up in parts, and every part was signed and accepted.
        let log = server.requests()
        #expect(log.contains { $0.contains("partNumber=2") && $0.contains("\" 200") }, "no multipart upload seen")
        #expect(!log.contains { $0.contains("\" 403") }, "a request was refused: \(log.filter { $0.contains("\" 403") })")
        #expect(try b.listUploads().isEmpty)   // every upload completed
    }

    @Test func wrongSecretFailsClearlyAndAtOnce() throws {
        let server = try MotoServer()
        let repo = server.url("bucket-auth/repo")
        var r = try CLITests.cairn(["init", "--kdf-n", "1024"], repo: repo, env: server.environment())
        #expect(r.status == 0, "\(r.err)")
        let before = server.requests().count
        let start = Date()
        r = try CLITests.cairn(["snapshots"], repo: repo, env: server.environment(secret: "wrong" + server.secretKey))
        #expect(r.status != 0)
        #expect(r.err.contains("HTTP 403") && r.err.contains("AWS_SECRET_ACCESS_KEY"), "\(r.err)")
        #expect(Date().timeIntervalSince(start) < 10)   // no retry storm
        let refused = server.requests().dropFirst(before).filter { $0.contains("\" 403") }
        #expect(refused.count >= 1 && refused.count <= 2, "\(refused)")
        #expect(!r.err.contains(server.secretKey))
        // A GET's refusal carries S3's code (a HEAD's has no body); one request, no retries.
        let wrong = try Self.backend(server, "bucket-auth/repo", secret: "wrong" + server.secretKey)
        let sent = server.requests().count
        do { _ = try wrong.read(.config, "config"); Issue.record("a wrong secret was accepted") }
        catch StorageError.permission(let m) { #expect(m.contains("SignatureDoesNotMatch") && m.contains("AWS_SECRET_ACCESS_KEY"), "\(m)") }
        catch { Issue.record("wrong secret: \(error)") }
        #expect(server.requests().count - sent == 1)
        // No credentials at all: the message names the variables.
        r = try CLITests.cairn(["snapshots"], repo: repo, env: ["AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""])
        #expect(r.status != 0)
        #expect(r.err.contains("AWS_ACCESS_KEY_ID") && r.err.contains("AWS_SECRET_ACCESS_KEY"), "\(r.err)")
    }

    @Test func listingsFollowContinuationTokens() throws {
        let server = try MotoServer()
        let b = try Self.backend(server, "bucket-list/repo", maxKeys: 3)
        try b.create()
        var names: [String] = []
        for i in 0..<11 {
            let name = SHA256.hash(Array("snapshot \(i)".utf8)).hex
            names.append(name)
            try b.write(.snapshot, name, Array(repeating: UInt8(i), count: i + 1))
        }
        try b.write(.pack, names[0], [1, 2, 3])   // another folder: not listed with snapshots
        let listed = try b.list(.snapshot)
        #expect(listed.map(\.name).sorted() == names.sorted())
        #expect(Set(listed.map(\.size)) == Set((1...11).map { UInt64($0) }))
        let pages = server.requests().filter { $0.contains("list-type=2") && $0.contains("prefix=repo/snapshots/") }
        #expect(pages.count == 4, "\(pages)")   // 3 + 3 + 3 + 2
        #expect(pages.filter { $0.contains("continuation-token=") }.count == 3)
        #expect(try b.list(.pack).map(\.name) == [names[0]])
        #expect(try b.list(.config).isEmpty)
        // Ranges, stat, missing objects, delete.
        let bytes = Fixtures.random(100_000, seed: "s3-range")
        try b.write(.index, names[1], bytes)
        #expect(try b.read(.index, names[1], offset: 1000, length: 5000) == Array(bytes[1000..<6000]))
        #expect(try b.read(.index, names[1], offset: 99_000, length: nil) == Array(bytes[99_000...]))
        #expect(try b.stat(.index, names[1]).size == 100_000)
        #expect(throws: StorageError.self) { try b.read(.index, names[2]) }
        do { _ = try b.stat(.index, names[2]); Issue.record("stat of a missing object succeeded") }
        catch StorageError.notFound {} catch { Issue.record("stat of a missing object: \(error)") }
        try b.delete(.index, names[2])   // missing: not an error
        try b.delete(.index, names[1])
        #expect(try b.list(.index).isEmpty)
        // A missing bucket is "not found", with a hint.
        let nobucket = try Self.backend(server, "no-such-bucket/repo")
        do { _ = try nobucket.read(.config, "config"); Issue.record("read from a missing bucket succeeded") }
        catch StorageError.notFound(let m) { #expect(m.contains("NoSuchBucket") && m.contains("init"), "\(m)") }
        catch { Issue.record("missing bucket: \(error)") }
    }

    @Test func multipartUploadsResumeAndCleanUp() throws {
        let server = try MotoServer()
        let journal = MemoryJournal()
        let a = try Self.backend(server, "bucket-mp/repo")
        try a.create()
        a.attach(journal: journal)
        let bytes = Fixtures.random(12 * Self.mib + 123, seed: "s3-multipart")   // parts of 5, 5 and 2 MiB
        let name = SHA256.hash(bytes).hex

        // Plain multipart write and read-back, also across a part boundary.
        try a.write(.pack, name, bytes)
        #expect(a.stats.partsSent == 3)
        #expect(try a.read(.pack, name) == bytes)
        #expect(try a.read(.pack, name, offset: UInt64(5 * Self.mib - 10), length: 20) == Array(bytes[(5 * Self.mib - 10)..<(5 * Self.mib + 10)]))
        #expect(try a.stat(.pack, name).size == UInt64(bytes.count))
        #expect(journal.unfinishedUploads(store: a.location).isEmpty)
        try a.delete(.pack, name)

        // A failed attempt at part 2 (a cut connection) re-sends part 2 only.
        let attempts = Locked<[Int]>([])
        a.beforePart.withLock { $0 = { n in
            let first = attempts.withLock { $0.append(n); return $0.filter { $0 == 2 }.count == 1 && n == 2 }
            if first { throw StorageError.transient("injected: connection reset during part 2") }
        } }
        let putsBefore = server.requests().filter { $0.contains("\"PUT ") && $0.contains("partNumber=") }.count
        try a.write(.pack, name, bytes)
        #expect(attempts.withLock { $0 } == [1, 2, 2, 3])
        #expect(a.stats.partsSent == 6)
        #expect(server.requests().filter { $0.contains("\"PUT ") && $0.contains("partNumber=") }.count - putsBefore == 3)
        #expect(try a.read(.pack, name) == bytes)
        try a.delete(.pack, name)

        // Cut short after part 1 (part 2 fails): the upload stays in the journal and the store.
        a.beforePart.withLock { $0 = { n in if n == 2 { throw InjectedCut() } } }
        #expect(throws: InjectedCut.self) { try a.write(.pack, name, bytes) }
        let open = journal.unfinishedUploads(store: a.location)
        #expect(open.count == 1 && open.first?.parts.count == 1 && open.first?.object == "repo/data/\(name.prefix(2))/\(name)")
        #expect(try a.listUploads().count == 1)
        #expect(!a.exists(.pack, name))

        // The next run writes the same pack: the upload is found (ListParts) and continued.
        let b = try Self.backend(server, "bucket-mp/repo")
        b.attach(journal: journal)
        let listPartsBefore = server.requests().filter { $0.contains("\"GET ") && $0.contains("uploadId=") }.count
        try b.write(.pack, name, bytes)
        #expect(b.stats.partsSent == 2, "sent \(b.stats.partsSent) parts; 2 were missing")
        #expect(b.stats.uploadsResumed == 1)
        let listParts = server.requests().filter { $0.contains("\"GET ") && $0.contains("uploadId=") }.count - listPartsBefore
        #expect(listParts == 2)   // once to resume, once before completing
        #expect(try b.read(.pack, name) == bytes)
        #expect(journal.unfinishedUploads(store: b.location).isEmpty)
        #expect(try b.listUploads().isEmpty)

        // A resumed upload whose stored part differs from the local one sends that part again.
        try b.delete(.pack, name)
        let other = Array(bytes.reversed())
        a.beforePart.withLock { $0 = { n in if n == 3 { throw InjectedCut() } } }
        #expect(throws: InjectedCut.self) { try a.write(.pack, name, other) }   // parts 1 and 2 of other content
        var patched = bytes
        patched.replaceSubrange(0..<(5 * Self.mib), with: other[0..<(5 * Self.mib)])   // part 1 same, 2 and 3 differ
        let c = try Self.backend(server, "bucket-mp/repo")
        c.attach(journal: journal)
        try c.write(.pack, name, patched)
        #expect(c.stats.partsSent == 2 && c.stats.uploadsResumed == 1, "\(c.stats)")
        #expect(try c.read(.pack, name) == patched)

        // An upload the store no longer has (NoSuchUpload) is started afresh.
        journal.uploadStarted(store: c.location, object: "repo/data/\(name.prefix(2))/\(name)", uploadID: "gone-upload-id")
        try c.write(.pack, name, bytes)
        #expect(c.stats.partsSent == 5 && c.stats.uploadsResumed == 1, "\(c.stats)")
        #expect(journal.unfinishedUploads(store: c.location).isEmpty)
        #expect(try c.read(.pack, name) == bytes)

        // Clean-up: the journal's unfinished upload is aborted at once; a stray upload from
        // elsewhere (not in the journal) only once it is old enough.
        a.beforePart.withLock { $0 = { _ in throw InjectedCut() } }
        #expect(throws: InjectedCut.self) { try a.write(.pack, String(repeating: "ab", count: 32), bytes) }
        let stray = try Self.backend(server, "bucket-mp/repo")   // no journal: "another machine"
        stray.beforePart.withLock { $0 = { n in if n == 2 { throw InjectedCut() } } }
        #expect(throws: InjectedCut.self) { try stray.write(.pack, String(repeating: "cd", count: 32), bytes) }
        let outsider = try Self.backend(server, "bucket-mp/elsewhere")   // outside the prefix: never touched
        outsider.beforePart.withLock { $0 = { _ in throw InjectedCut() } }
        #expect(throws: InjectedCut.self) { try outsider.write(.pack, name, bytes) }
        #expect(try c.listUploads().count == 2)
        // moto reports every upload as initiated in 2010, so here both count as old: the
        // journal's is aborted as the journal's, the stray one for its age. (The age rule
        // itself is checked below with real times.)
        #expect(try c.cleanUpInterruptedUploads(olderThanSeconds: 3600) == 2)
        #expect(journal.unfinishedUploads(store: c.location).isEmpty)
        #expect(try c.listUploads().isEmpty)
        #expect(try outsider.listUploads().count == 1)   // outside the prefix: left alone
        #expect(try c.cleanUpInterruptedUploads(olderThanSeconds: 3600) == 0)
        let now = Timestamp.parse("2026-01-01T12:00:00Z")!
        let uploads = [S3Backend.Upload(key: "old", uploadID: "1", initiated: Timestamp.parse("2026-01-01T10:59:59Z")),
                       S3Backend.Upload(key: "young", uploadID: "2", initiated: Timestamp.parse("2026-01-01T11:30:00Z")),
                       S3Backend.Upload(key: "unknown", uploadID: "3", initiated: nil)]
        #expect(S3Backend.stale(uploads, now: now, olderThanSeconds: 3600).map(\.key) == ["old"])
        #expect(S3Backend.stale(uploads, now: now, olderThanSeconds: 0).map(\.key) == ["old", "young"])
        #expect(try c.read(.pack, name) == bytes)   // completed objects are untouched
    }

    /// Virtual-hosted addressing (moto's wrapper only takes path style, so this checks the
    /// request itself): Host, path, URL and the canonical request that is signed.
    @Test func virtualHostedAndPathStyleRequests() throws {
        let env = ["AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                   "AWS_DEFAULT_REGION": "eu-west-1"]
        let b = try S3Backend(url: "https://s3.eu-west-1.amazonaws.com/my-bucket/backups/", environment: env)
        #expect(b.address.addressing == .dns)
        #expect(b.location == "s3:https://s3.eu-west-1.amazonaws.com/my-bucket/backups")
        let key = b.address.key(.pack, "ab12")
        #expect(key == "backups/data/ab/ab12")
        let r = b.signed(.GET, key: key, headers: [("Range", "bytes=0-9")], body: nil, amzDate: "20260101T000000Z")
        #expect(r.url == "https://my-bucket.s3.eu-west-1.amazonaws.com/backups/data/ab/ab12")
        #expect(r.headers.first { $0.0 == "Host" }?.1 == "my-bucket.s3.eu-west-1.amazonaws.com")
        let emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        let c = b.signer.canonicalRequest(method: "GET", path: b.address.target(key: key).path, query: [],
                                          headers: [("Host", "my-bucket.s3.eu-west-1.amazonaws.com"), ("Range", "bytes=0-9")],
                                          payloadHash: emptyHash, amzDate: "20260101T000000Z")
        #expect(c.text == """
            GET
            /backups/data/ab/ab12

            host:my-bucket.s3.eu-west-1.amazonaws.com
            range:bytes=0-9
            x-amz-content-sha256:\(emptyHash)
            x-amz-date:20260101T000000Z

            host;range;x-amz-content-sha256;x-amz-date
            \(emptyHash)
            """)
        let auth = r.headers.first { $0.0 == "Authorization" }?.1 ?? ""
        #expect(auth.hasPrefix("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/eu-west-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature="))
        // Bucket-level requests in DNS style go to "/", query encoded and sorted.
        let list = b.address.target(key: nil, query: [("prefix", "backups/keys/"), ("list-type", "2")])
        #expect(list.path == "/" && list.url == "https://my-bucket.s3.eu-west-1.amazonaws.com/?list-type=2&prefix=backups%2Fkeys%2F")

        // Path style: forced, for other hosts by default, and for dotted bucket names on AWS.
        let p = try S3Location(url: "http://127.0.0.1:9000/bkt/a/b", lookup: nil)
        #expect(p.addressing == .path && p.prefix == "a/b")
        #expect(p.target(key: p.key(.config, "config")).url == "http://127.0.0.1:9000/bkt/a/b/config")
        #expect(p.target(key: p.key(.config, "config")).host == "127.0.0.1:9000")
        #expect(try S3Location(url: "https://s3.amazonaws.com/my.bucket", lookup: "auto").addressing == .path)
        #expect(try S3Location(url: "https://s3.amazonaws.com/bucket", lookup: "path").addressing == .path)
        #expect(try S3Location(url: "https://minio.local:9000/bucket", lookup: "dns").target(key: "config").host == "bucket.minio.local:9000")
        #expect(throws: StorageError.self) { try S3Location(url: "https://s3.amazonaws.com/bucket", lookup: "sideways") }
        #expect(throws: StorageError.self) { try S3Location(url: "ftp://host/bucket", lookup: nil) }
        #expect(throws: StorageError.self) { try S3Location(url: "https://host", lookup: nil) }
        #expect(try S3Location(url: "https://h/b", lookup: nil).key(.key, "k1") == "keys/k1")
        // Missing credentials name the variables.
        do { _ = try S3Backend(url: "https://h/b", environment: [:]); Issue.record("no credentials accepted") }
        catch StorageError.permission(let m) { #expect(m.contains("AWS_ACCESS_KEY_ID") && m.contains("AWS_SECRET_ACCESS_KEY")) }
        // Session tokens are signed; the region falls back to AWS_REGION, then us-east-1.
        let t = try S3Backend(url: "http://h/b", environment: ["AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "s",
                                                               "AWS_SESSION_TOKEN": "tok", "AWS_REGION": "ap-south-1"])
        let th = t.signed(.HEAD, key: "config", body: nil).headers
        #expect(th.first { $0.0 == "x-amz-security-token" }?.1 == "tok")
        #expect(th.first { $0.0 == "Authorization" }?.1.contains("/ap-south-1/s3/aws4_request") == true)
        #expect(try S3Backend(url: "http://h/b", environment: ["AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "s"]).signer.region == "us-east-1")
    }

    @Test func xmlAndErrorCodes() {
        let list = Array("""
            <?xml version="1.0" encoding="UTF-8"?>
            <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix/><KeyCount>2</KeyCount>
            <IsTruncated>true</IsTruncated><NextContinuationToken>a+b/c==&amp;</NextContinuationToken>
            <Contents><Key>x/a&amp;b&lt;&gt;&quot;&apos;&#233;</Key><Size>12</Size><ETag>&quot;abc&quot;</ETag></Contents>
            <Contents><Key>x/2</Key><Size>0</Size></Contents></ListBucketResult>
            """.utf8)
        let xml = S3XML(list)
        #expect(xml.text("Prefix") == "")
        #expect(xml.text("NextContinuationToken") == "a+b/c==&")
        #expect(xml.all("Contents").map { $0.text("Key") } == ["x/a&b<>\"'é", "x/2"])
        #expect(xml.all("Contents").map { $0.text("Size") } == ["12", "0"])
        #expect(S3Backend.unquoted(xml.first("Contents")!.text("ETag")!) == "abc")
        let parts = S3XML(Array("<ListPartsResult><PartNumberMarker>0</PartNumberMarker><Part><PartNumber>1</PartNumber><ETag>\"AB\"</ETag></Part></ListPartsResult>".utf8))
        #expect(parts.all("Part").count == 1 && parts.first("Part")?.text("PartNumber") == "1")
        #expect(S3XML.escape("a<&>\"'") == "a&lt;&amp;&gt;&quot;&apos;")

        func err(_ code: String, _ status: Int = 400) -> StorageError {
            S3Backend.error(status: status, body: Array("<Error><Code>\(code)</Code><Message>m &amp; m</Message></Error>".utf8), what: "op")
        }
        if case .permission(let m) = err("SignatureDoesNotMatch", 403) {
            #expect(m.contains("AWS_SECRET_ACCESS_KEY") && m.contains("m & m"))
        } else { Issue.record("SignatureDoesNotMatch") }
        for code in ["AccessDenied", "InvalidAccessKeyId"] {
            if case .permission = err(code, 403) {} else { Issue.record("\(code)") }
        }
        if case .notFound = err("NoSuchKey", 404) {} else { Issue.record("NoSuchKey") }
        if case .notFound(let m) = err("NoSuchBucket", 404) { #expect(m.contains("bucket")) } else { Issue.record("NoSuchBucket") }
        for code in ["QuotaExceeded", "EntityTooLarge"] {
            if case .quota = err(code) {} else { Issue.record("\(code)") }
        }
        for code in ["SlowDown", "InternalError"] {
            if case .transient = err(code, 503) {} else { Issue.record("\(code)") }
        }
        if case .transient = S3Backend.error(status: 503, body: [], what: "op") {} else { Issue.record("503") }
        if case .permission = S3Backend.error(status: 403, body: [], what: "op") {} else { Issue.record("bare 403") }
        if case .notFound = S3Backend.error(status: 404, body: [], what: "op") {} else { Issue.record("bare 404") }
        #expect(Hex.encode(MD5.hash(Array("abc".utf8))) == "900150983cd24fb0d6963f7d28e17f72")
        #expect(Hex.encode(MD5.hash([])) == "d41d8cd98f00b204e9800998ecf8427e")
    }
}

/// Short timeouts and few retries, so a broken test fails fast.
enum HTTPExchangeForTests {
    static let quick = HTTPExchange(retry: RetryPolicy(attempts: 3, baseDelayMs: 100, maxDelayMs: 1000))
}
