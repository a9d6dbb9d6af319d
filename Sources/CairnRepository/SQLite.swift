internal import CSQLite

/// A thin typed wrapper over one sqlite3 connection. Not thread-safe by itself: `Cache`
/// serialises access with a mutex.
final class SQLiteDatabase: @unchecked Sendable {
    private var db: OpaquePointer?

    struct Failure: Error, CustomStringConvertible {
        var message: String
        var description: String { "sqlite: \(message)" }
    }

    init(path: String) throws {
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        guard sqlite3_open_v2(path, &db, flags, nil) == SQLITE_OK else {
            let msg = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close(db)
            throw Failure(message: "\(path): \(msg)")
        }
        sqlite3_busy_timeout(db, 5000)
    }

    deinit { sqlite3_close(db) }

    func execute(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(db, sql, nil, nil, &err) == SQLITE_OK else {
            let msg = err.map { String(cString: $0) } ?? "error"
            sqlite3_free(err)
            throw Failure(message: msg)
        }
    }

    /// A bound value.
    enum Value { case text(String), blob([UInt8]), int(Int64) }

    var errorMessage: String { String(cString: sqlite3_errmsg(db)) }
    fileprivate func prepareStatement(_ sql: String, _ args: [Value]) throws -> OpaquePointer { try prepare(sql, args) }

    private func prepare(_ sql: String, _ args: [Value]) throws -> OpaquePointer {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &stmt, nil) == SQLITE_OK, let stmt else {
            throw Failure(message: String(cString: sqlite3_errmsg(db)))
        }
        // SQLITE_TRANSIENT: sqlite copies the bytes.
        let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
        for (i, a) in args.enumerated() {
            let idx = Int32(i + 1)
            switch a {
            case .text(let s): sqlite3_bind_text(stmt, idx, s, -1, transient)
            case .int(let v): sqlite3_bind_int64(stmt, idx, v)
            case .blob(let b): _ = b.withUnsafeBytes { sqlite3_bind_blob(stmt, idx, $0.baseAddress, Int32($0.count), transient) }
            }
        }
        return stmt
    }

    func run(_ sql: String, _ args: [Value] = []) throws {
        let stmt = try prepare(sql, args)
        defer { sqlite3_finalize(stmt) }
        let r = sqlite3_step(stmt)
        guard r == SQLITE_DONE || r == SQLITE_ROW else { throw Failure(message: String(cString: sqlite3_errmsg(db))) }
    }

    /// The first column of the first row as bytes, if any.
    func blob(_ sql: String, _ args: [Value]) throws -> [UInt8]? {
        let stmt = try prepare(sql, args)
        defer { sqlite3_finalize(stmt) }
        guard sqlite3_step(stmt) == SQLITE_ROW else { return nil }
        let n = Int(sqlite3_column_bytes(stmt, 0))
        guard n > 0, let p = sqlite3_column_blob(stmt, 0) else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: n))
    }

    /// The first column of every row as text.
    func texts(_ sql: String, _ args: [Value] = []) throws -> [String] {
        let stmt = try prepare(sql, args)
        defer { sqlite3_finalize(stmt) }
        var out: [String] = []
        while sqlite3_step(stmt) == SQLITE_ROW {
            if let c = sqlite3_column_text(stmt, 0) { out.append(String(cString: c)) }
        }
        return out
    }
}

extension SQLiteDatabase {
    /// One result row; columns by index.
    struct Row {
        fileprivate let stmt: OpaquePointer
        func text(_ i: Int32) -> String { sqlite3_column_text(stmt, i).map { String(cString: $0) } ?? "" }
        func int(_ i: Int32) -> Int64 { sqlite3_column_int64(stmt, i) }
        func blob(_ i: Int32) -> [UInt8] {
            let n = Int(sqlite3_column_bytes(stmt, i))
            guard n > 0, let p = sqlite3_column_blob(stmt, i) else { return [] }
            return Array(UnsafeRawBufferPointer(start: p, count: n))
        }
    }

    /// Every row, mapped.
    func rows<T>(_ sql: String, _ args: [Value] = [], _ map: (Row) throws -> T) throws -> [T] {
        let stmt = try prepareStatement(sql, args)
        defer { sqlite3_finalize(stmt) }
        var out: [T] = []
        while true {
            let r = sqlite3_step(stmt)
            if r == SQLITE_DONE { break }
            guard r == SQLITE_ROW else { throw Failure(message: errorMessage) }
            out.append(try map(Row(stmt: stmt)))
        }
        return out
    }

    /// Runs `body` in one transaction (committed if it returns, rolled back if it throws).
    func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let v = try body()
            try execute("COMMIT")
            return v
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }
}
