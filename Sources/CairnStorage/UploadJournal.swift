/// Where a store that sends large objects in parts (S3 multipart uploads) records the uploads
/// it starts and the parts that reached the store, so an upload cut short — a network cut, a
/// store outage, Ctrl-C or `kill -9` — is found again on the next run and continued or
/// aborted. The repository keeps it in SQLite in its cache folder; a store only calls it.
///
/// `store` is the store's `location`; `object` is the store's own key for the file.
public protocol UploadJournal: Sendable {
    func uploadStarted(store: String, object: String, uploadID: String)
    func partFinished(store: String, object: String, uploadID: String, part: Int, etag: String)
    /// Called once the object is complete or the upload was aborted.
    func uploadEnded(store: String, object: String, uploadID: String)
    /// Uploads started and not ended, oldest first, with the parts known to have finished.
    func unfinishedUploads(store: String) -> [UnfinishedUpload]
}

public struct UnfinishedUpload: Sendable, Equatable {
    public var object: String
    public var uploadID: String
    public var parts: [Int: String]   // part number → ETag
    public init(object: String, uploadID: String, parts: [Int: String]) {
        self.object = object; self.uploadID = uploadID; self.parts = parts
    }
}

/// A store with resumable multipart uploads.
public protocol MultipartBackend: Backend {
    /// Sets the journal the store records its uploads in (before the first write).
    func attach(journal: any UploadJournal)
    /// Aborts uploads this machine started and never finished (from the journal), and any
    /// upload under the store's prefix older than `olderThanSeconds` whoever started it.
    /// Returns how many were aborted.
    @discardableResult
    func cleanUpInterruptedUploads(olderThanSeconds: Int64) throws -> Int
}
