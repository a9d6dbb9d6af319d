import CairnCore
internal import FoundationEssentials

/// A snapshot (`snapshots/<sha256>`, JSON in an envelope).
public struct Snapshot: Sendable, Codable, Equatable {
    public struct Summary: Sendable, Codable, Equatable {
        public var filesNew: Int = 0
        public var filesChanged: Int = 0
        public var filesUnmodified: Int = 0
        public var dirs: Int = 0
        public var bytesRead: UInt64 = 0
        public var bytesAdded: UInt64 = 0
        public var bytesStored: UInt64 = 0
        public var dataBlobs: Int = 0
        public var treeBlobs: Int = 0
        public var totalFiles: Int = 0
        public var totalBytes: UInt64 = 0
        public var errors: Int = 0
        public var durationSeconds: Double = 0
        public init() {}
        /// Every member is optional on input, so a writer may omit counters it does not keep.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            filesNew = try c.decodeIfPresent(Int.self, forKey: .filesNew) ?? 0
            filesChanged = try c.decodeIfPresent(Int.self, forKey: .filesChanged) ?? 0
            filesUnmodified = try c.decodeIfPresent(Int.self, forKey: .filesUnmodified) ?? 0
            dirs = try c.decodeIfPresent(Int.self, forKey: .dirs) ?? 0
            bytesRead = try c.decodeIfPresent(UInt64.self, forKey: .bytesRead) ?? 0
            bytesAdded = try c.decodeIfPresent(UInt64.self, forKey: .bytesAdded) ?? 0
            bytesStored = try c.decodeIfPresent(UInt64.self, forKey: .bytesStored) ?? 0
            dataBlobs = try c.decodeIfPresent(Int.self, forKey: .dataBlobs) ?? 0
            treeBlobs = try c.decodeIfPresent(Int.self, forKey: .treeBlobs) ?? 0
            totalFiles = try c.decodeIfPresent(Int.self, forKey: .totalFiles) ?? 0
            totalBytes = try c.decodeIfPresent(UInt64.self, forKey: .totalBytes) ?? 0
            errors = try c.decodeIfPresent(Int.self, forKey: .errors) ?? 0
            durationSeconds = try c.decodeIfPresent(Double.self, forKey: .durationSeconds) ?? 0
        }
        enum CodingKeys: String, CodingKey {
            case filesNew = "files_new", filesChanged = "files_changed", filesUnmodified = "files_unmodified"
            case dirs, bytesRead = "bytes_read", bytesAdded = "bytes_added", bytesStored = "bytes_stored"
            case dataBlobs = "data_blobs", treeBlobs = "tree_blobs", totalFiles = "total_files"
            case totalBytes = "total_bytes", errors, durationSeconds = "duration_seconds"
        }
    }

    public var version: Int = 1
    public var time: String
    public var tree: String
    public var paths: [String]
    public var hostname: String
    public var username: String
    public var uid: UInt32
    public var gid: UInt32
    public var tags: [String]
    public var parent: String?
    /// Set by `repair snapshots`: the ID of the snapshot this one replaces; by `copy`: the ID
    /// of the snapshot in the source repository (its own `original` if it has one).
    public var original: String?
    public var excludes: [String]
    /// Set when a stream was stored decompressed (`backup --decompress`): the format it
    /// arrived in ("gzip", "zstd", "xz"). Restore and dump give the decompressed stream.
    public var streamDecompressed: String?
    public var programVersion: String
    public var summary: Summary
    /// The keep policy saved for this snapshot's group (`policy set`, §11.2); absent when none.
    public var retention: SavedPolicy?

    enum CodingKeys: String, CodingKey {
        case version, time, tree, paths, hostname, username, uid, gid, tags, parent, original, excludes
        case streamDecompressed = "stream_decompressed"
        case programVersion = "program_version", summary, retention
    }

    public init(time: Timestamp, tree: ID, paths: [String], hostname: String, username: String, uid: UInt32, gid: UInt32,
                tags: [String], parent: ID?, excludes: [String], programVersion: String, summary: Summary) {
        self.time = time.rfc3339; self.tree = tree.hex; self.paths = paths; self.hostname = hostname
        self.username = username; self.uid = uid; self.gid = gid; self.tags = tags; self.parent = parent?.hex
        self.excludes = excludes; self.programVersion = programVersion; self.summary = summary
    }

    public var treeID: ID? { ID(hex: tree) }
    public var parentID: ID? { parent.flatMap { ID(hex: $0) } }
    public var timestamp: Timestamp { Timestamp.parse(time) ?? Timestamp(nanoseconds: 0) }

    public func encoded() throws -> [UInt8] {
        let e = JSONEncoder(); e.outputFormatting = [.sortedKeys]
        return Array(try e.encode(self))
    }

    public static func decode(_ b: [UInt8]) throws -> Snapshot {
        let s: Snapshot
        do { s = try JSONDecoder().decode(Snapshot.self, from: Data(b)) }
        catch { throw FormatError.invalid("snapshot is not valid JSON: \(error)") }
        guard s.version == 1 else { throw FormatError.unsupportedVersion("snapshot", s.version) }
        guard s.treeID != nil else { throw FormatError.invalid("snapshot tree is not an ID") }
        guard Timestamp.parse(s.time) != nil else { throw FormatError.invalid("snapshot time \(s.time) is not RFC 3339") }
        if let p = s.parent, ID(hex: p) == nil { throw FormatError.invalid("snapshot parent is not an ID") }
        if let o = s.original, ID(hex: o) == nil { throw FormatError.invalid("snapshot original is not an ID") }
        if let r = s.retention, !r.isValid { throw FormatError.invalid("snapshot retention breaks §11.2") }
        return s
    }
}

/// A lock (`locks/<sha256>`, JSON in an envelope).
public struct Lock: Sendable, Codable, Equatable {
    public var time: String
    public var exclusive: Bool
    public var hostname: String
    public var username: String
    public var pid: Int32
    public var operation: String

    public init(time: Timestamp, exclusive: Bool, hostname: String, username: String, pid: Int32, operation: String) {
        self.time = time.rfc3339; self.exclusive = exclusive; self.hostname = hostname
        self.username = username; self.pid = pid; self.operation = operation
    }

    public var timestamp: Timestamp { Timestamp.parse(time) ?? Timestamp(nanoseconds: 0) }

    public func encoded() throws -> [UInt8] {
        let e = JSONEncoder(); e.outputFormatting = [.sortedKeys]
        return Array(try e.encode(self))
    }
    public static func decode(_ b: [UInt8]) throws -> Lock {
        do { return try JSONDecoder().decode(Lock.self, from: Data(b)) }
        catch { throw FormatError.invalid("lock is not valid JSON: \(error)") }
    }
}

/// A keep policy as saved in a snapshot's `retention` member (§11.2): counts (-1 = unlimited)
/// and durations (`2y5m7d3h`) of `forget`'s rules; members that are zero are absent.
public struct SavedPolicy: Codable, Hashable, Sendable {
    public var last: Int?, hourly: Int?, daily: Int?, weekly: Int?, monthly: Int?, yearly: Int?
    public var within: String?, withinHourly: String?, withinDaily: String?
    public var withinWeekly: String?, withinMonthly: String?, withinYearly: String?
    /// Tag lists: a snapshot with every tag of one list is kept.
    public var tags: [[String]]?
    public init() {}

    /// Counts are -1 or more; durations are one or more groups of 1-9 digits and a unit
    /// `y`, `m`, `d` or `h`; tag lists are not empty.
    public var isValid: Bool {
        [last, hourly, daily, weekly, monthly, yearly].allSatisfy { ($0 ?? 0) >= -1 }
            && [within, withinHourly, withinDaily, withinWeekly, withinMonthly, withinYearly].allSatisfy { $0.map(Self.isDuration) ?? true }
            && (tags ?? []).allSatisfy { !$0.isEmpty }
    }

    static func isDuration(_ s: String) -> Bool {
        var digits = 0
        for c in s.utf8 {
            if c >= 48 && c <= 57 { digits += 1; if digits > 9 { return false } }
            else if digits > 0 && [121, 109, 100, 104].contains(c) { digits = 0 }
            else { return false }
        }
        return !s.isEmpty && digits == 0
    }

    enum CodingKeys: String, CodingKey {
        case last, hourly, daily, weekly, monthly, yearly, within, tags
        case withinHourly = "within_hourly", withinDaily = "within_daily", withinWeekly = "within_weekly"
        case withinMonthly = "within_monthly", withinYearly = "within_yearly"
    }
}
