import CairnCore
import CairnFormat
import CairnStorage
#if canImport(Glibc)
import Glibc
#endif

/// The upload journal: `<cache folder>/<repository id>/journal.sqlite`, one per repository
/// on each machine. It records what a run has put in the store and not yet made permanent,
/// so a run cut short (Ctrl-C, `kill -9`, a network cut, a store outage) is continued by
/// the next one instead of being sent again:
///
/// - `packs`: every pack the store has accepted that no index file lists yet, with its blob
///   entries (sealed with the repository key, as an index file would be). The next run adopts
///   them after checking the store still has them, without reading them back.
/// - `uploads` / `parts`: multipart uploads a store started and the parts that reached it
///   (see `UploadJournal`).
/// - `copied`: for `copy` between repositories with different ID keys, the destination ID
///   of each data blob already copied, so a resumed copy does not read it again.
/// - `files`: the files an interrupted backup had finished reading, per backup source (a
///   checkpoint of the partial tree), so the next backup of the same source does not read
///   them again. This table holds paths and blob IDs in the clear, like the source itself on
///   this machine; it is emptied when the snapshot is saved.
///
/// Losing the journal loses no data: the next run falls back to reading the headers of packs
/// no index lists, and to reading files again.
public final class Journal: UploadJournal, Sendable {
    let db: Locked<SQLiteDatabase>
    let key: MasterKey
    let random: any RandomSource
    public let path: String

    public init(folder: String, key: MasterKey, random: any RandomSource) throws {
        path = folder + "/journal.sqlite"
        let conn = try SQLiteDatabase(path: path)
        try conn.execute("""
            PRAGMA journal_mode=WAL;
            PRAGMA synchronous=FULL;
            CREATE TABLE IF NOT EXISTS packs (name TEXT PRIMARY KEY, size INTEGER NOT NULL, entries BLOB NOT NULL);
            CREATE TABLE IF NOT EXISTS uploads (store TEXT NOT NULL, object TEXT NOT NULL, upload_id TEXT NOT NULL,
                started INTEGER NOT NULL, PRIMARY KEY (store, object, upload_id));
            CREATE TABLE IF NOT EXISTS parts (store TEXT NOT NULL, object TEXT NOT NULL, upload_id TEXT NOT NULL,
                part INTEGER NOT NULL, etag TEXT NOT NULL, PRIMARY KEY (store, object, upload_id, part));
            CREATE TABLE IF NOT EXISTS files (source TEXT NOT NULL, path BLOB NOT NULL, node BLOB NOT NULL,
                PRIMARY KEY (source, path));
            CREATE TABLE IF NOT EXISTS copied (repository TEXT NOT NULL, source_id BLOB NOT NULL, id BLOB NOT NULL,
                PRIMARY KEY (repository, source_id));
            """)
        db = Locked(conn)
        self.key = key
        self.random = random
    }

    // MARK: packs stored but not yet indexed

    /// A pack the store now holds durably (called before it is added to an index file).
    func packStored(_ pack: IndexFile.Pack, size: UInt64) {
        let sealed = Envelope.seal(IndexFile(packs: [pack]).encode(), type: .index, key: key, compress: false, random: random)
        db.withLock { try? $0.run("INSERT OR REPLACE INTO packs (name, size, entries) VALUES (?, ?, ?)",
                                  [.text(pack.id.hex), .int(Int64(size)), .blob(sealed)]) }
    }

    /// Packs an index file in the store now lists.
    func packsIndexed(_ names: [ID]) {
        db.withLock { conn in
            _ = try? conn.transaction {
                for n in names { try conn.run("DELETE FROM packs WHERE name=?", [.text(n.hex)]) }
            }
        }
    }

    /// Packs stored and not indexed, with their sizes. A row that does not open is dropped.
    func storedPacks() -> [(pack: IndexFile.Pack, size: UInt64)] {
        let rows = db.withLock { conn in
            (try? conn.rows("SELECT name, size, entries FROM packs") { ($0.text(0), UInt64($0.int(1)), $0.blob(2)) }) ?? []
        }
        var out: [(IndexFile.Pack, UInt64)] = []
        for (name, size, sealed) in rows {
            if let plain = try? Envelope.open(sealed, type: .index, key: key),
               let file = try? IndexFile.decode(plain), file.packs.count == 1, file.packs[0].id.hex == name {
                out.append((file.packs[0], size))
            } else if let id = ID(hex: name) {
                packsIndexed([id])
            }
        }
        return out
    }

    // MARK: multipart uploads (UploadJournal)

    public func uploadStarted(store: String, object: String, uploadID: String) {
        db.withLock { try? $0.run("INSERT OR REPLACE INTO uploads (store, object, upload_id, started) VALUES (?, ?, ?, ?)",
                                  [.text(store), .text(object), .text(uploadID), .int(Timestamp.now().nanoseconds)]) }
    }

    public func partFinished(store: String, object: String, uploadID: String, part: Int, etag: String) {
        db.withLock { try? $0.run("INSERT OR REPLACE INTO parts (store, object, upload_id, part, etag) VALUES (?, ?, ?, ?, ?)",
                                  [.text(store), .text(object), .text(uploadID), .int(Int64(part)), .text(etag)]) }
    }

    public func uploadEnded(store: String, object: String, uploadID: String) {
        db.withLock { conn in
            _ = try? conn.transaction {
                let k: [SQLiteDatabase.Value] = [.text(store), .text(object), .text(uploadID)]
                try conn.run("DELETE FROM parts WHERE store=? AND object=? AND upload_id=?", k)
                try conn.run("DELETE FROM uploads WHERE store=? AND object=? AND upload_id=?", k)
            }
        }
    }

    public func unfinishedUploads(store: String) -> [UnfinishedUpload] {
        db.withLock { conn in
            let ups = (try? conn.rows("SELECT object, upload_id FROM uploads WHERE store=? ORDER BY started", [.text(store)]) {
                ($0.text(0), $0.text(1))
            }) ?? []
            return ups.map { object, uploadID in
                let parts = (try? conn.rows("SELECT part, etag FROM parts WHERE store=? AND object=? AND upload_id=?",
                                            [.text(store), .text(object), .text(uploadID)]) { (Int($0.int(0)), $0.text(1)) }) ?? []
                return UnfinishedUpload(object: object, uploadID: uploadID, parts: Dictionary(parts, uniquingKeysWith: { a, _ in a }))
            }
        }
    }

    // MARK: blobs copied from another repository

    /// The ID under which a blob of repository `from` was stored here by `copy`.
    public func copiedBlob(from repository: ID, _ sourceID: ID) -> ID? {
        let b = db.withLock { try? $0.blob("SELECT id FROM copied WHERE repository=? AND source_id=?",
                                           [.text(repository.hex), .blob(sourceID.bytes)]) } ?? nil
        return b.flatMap { $0.count == 32 ? ID($0) : nil }
    }

    public func blobCopied(from repository: ID, _ sourceID: ID, to id: ID) {
        db.withLock { try? $0.run("INSERT OR REPLACE INTO copied (repository, source_id, id) VALUES (?, ?, ?)",
                                  [.text(repository.hex), .blob(sourceID.bytes), .blob(id.bytes)]) }
    }

    // MARK: partial-tree checkpoint

    /// Records files a backup of `source` has finished reading (their nodes, content included).
    public func filesRead(source: String, _ files: [(path: [UInt8], node: Node)]) {
        guard !files.isEmpty else { return }
        db.withLock { conn in
            _ = try? conn.transaction {
                for f in files {
                    try conn.run("INSERT OR REPLACE INTO files (source, path, node) VALUES (?, ?, ?)",
                                 [.text(source), .blob(f.path), .blob(Tree(nodes: [f.node]).encode())])
                }
            }
        }
    }

    /// The node recorded for `path` by an interrupted backup of `source`.
    public func fileRead(source: String, path: [UInt8]) -> Node? {
        guard let b = db.withLock({ try? $0.blob("SELECT node FROM files WHERE source=? AND path=?", [.text(source), .blob(path)]) }) ?? nil,
              let tree = try? Tree.decode(b), tree.nodes.count == 1 else { return nil }
        return tree.nodes[0]
    }

    public func hasFiles(source: String) -> Bool {
        (db.withLock { try? $0.blob("SELECT 1 FROM files WHERE source=? LIMIT 1", [.text(source)]) } ?? nil) != nil
    }

    /// Forgets the checkpoint of `source` (its snapshot is saved).
    public func forgetFiles(source: String) {
        db.withLock { try? $0.run("DELETE FROM files WHERE source=?", [.text(source)]) }
    }
}
