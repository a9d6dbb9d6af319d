import CairnCore
import CairnFormat
#if canImport(Glibc)
import Glibc
#endif

// Retention (`forget`): which snapshots a keep policy keeps, with restic's semantics.
// Everything here is a pure function of the snapshot list, a time zone and "now", so the
// policy can be tested without a repository.

/// A calendar date and wall-clock time (proleptic Gregorian), in some time zone.
public struct CivilTime: Hashable, Sendable, CustomStringConvertible {
    public var year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int
    public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) {
        self.year = year; self.month = month; self.day = day; self.hour = hour; self.minute = minute; self.second = second
    }

    public var description: String {
        func p(_ v: Int, _ w: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
        return "\(p(year, 4))-\(p(month, 2))-\(p(day, 2)) \(p(hour, 2)):\(p(minute, 2)):\(p(second, 2))"
    }

    /// Days since 1970-01-01 of a date (any month and day: out-of-range values roll over, as
    /// Go's time.Date does).
    public static func days(year: Int, month: Int, day: Int) -> Int {
        // Normalize the month first, then count (H. Hinnant's days_from_civil).
        let m0 = month - 1
        var y = year + (m0 >= 0 ? m0 / 12 : (m0 - 11) / 12)
        let m = m0 - (m0 >= 0 ? m0 / 12 : (m0 - 11) / 12) * 12 + 1
        y -= m <= 2 ? 1 : 0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + 1 - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468 + (day - 1)
    }

    /// The date of a day count since 1970-01-01.
    public static func date(days z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// ISO 8601 week-numbering year and week (1...53): weeks start on Monday, and week 1 is
    /// the week with the year's first Thursday, so Dec 29-31 can be in week 1 of the next
    /// year and Jan 1-3 in week 52 or 53 of the previous one.
    public var isoWeek: (year: Int, week: Int) {
        let d = Self.days(year: year, month: month, day: day)
        let weekday = ((d % 7 + 7) % 7 + 3) % 7 + 1   // 1970-01-01 was a Thursday; Monday = 1 ... Sunday = 7
        let thursday = d - weekday + 4
        let ty = Self.date(days: thursday).year
        return (ty, (thursday - Self.days(year: ty, month: 1, day: 1)) / 7 + 1)
    }
}

/// Local wall-clock time for retention buckets: an instant's calendar date and hour, and back.
public protocol RetentionTimeZone: Sendable {
    /// The local date and time of an instant (seconds since the epoch).
    func civil(_ seconds: Int64) -> CivilTime
    /// The instant of a local date and time. A time skipped or repeated by a daylight-saving
    /// change maps to one of the instants near it.
    func seconds(_ civil: CivilTime) -> Int64
}

/// The process's time zone (the C library's: `TZ`, else /etc/localtime), as restic uses the
/// local zone. What `cairn forget` uses.
public struct SystemTimeZone: RetentionTimeZone {
    public init() {}
    public func civil(_ seconds: Int64) -> CivilTime {
        var t = time_t(seconds)
        var v = tm()
        localtime_r(&t, &v)
        return CivilTime(year: Int(v.tm_year) + 1900, month: Int(v.tm_mon) + 1, day: Int(v.tm_mday),
                         hour: Int(v.tm_hour), minute: Int(v.tm_min), second: Int(v.tm_sec))
    }
    public func seconds(_ c: CivilTime) -> Int64 {
        var v = tm()
        v.tm_year = Int32(c.year - 1900); v.tm_mon = Int32(c.month - 1); v.tm_mday = Int32(c.day)
        v.tm_hour = Int32(c.hour); v.tm_min = Int32(c.minute); v.tm_sec = Int32(c.second); v.tm_isdst = -1
        return Int64(mktime(&v))
    }
}

/// A zone with a fixed offset from UTC (seconds east), such as UTC itself.
public struct FixedOffsetTimeZone: RetentionTimeZone {
    public var offset: Int64
    public init(offsetSeconds: Int64 = 0) { offset = offsetSeconds }
    public func civil(_ seconds: Int64) -> CivilTime {
        let local = seconds + offset
        let (q, r) = local.quotientAndRemainder(dividingBy: 86400)
        let days = r < 0 ? q - 1 : q, secs = r < 0 ? r + 86400 : r
        let d = CivilTime.date(days: Int(days))
        return CivilTime(year: d.year, month: d.month, day: d.day, hour: Int(secs / 3600), minute: Int(secs / 60 % 60), second: Int(secs % 60))
    }
    public func seconds(_ c: CivilTime) -> Int64 {
        Int64(CivilTime.days(year: c.year, month: c.month, day: c.day)) * 86400
            + Int64(c.hour * 3600 + c.minute * 60 + c.second) - offset
    }
}

/// A restic duration: years, months, days and hours (`2y5m7d3h`), counted back on the
/// calendar of the latest snapshot's time zone.
public struct RetentionDuration: Hashable, Sendable, CustomStringConvertible {
    public var years = 0, months = 0, days = 0, hours = 0
    public init(years: Int = 0, months: Int = 0, days: Int = 0, hours: Int = 0) {
        self.years = years; self.months = months; self.days = days; self.hours = hours
    }

    /// Parses `2y5m7d3h`: numbers each followed by `y`, `m`, `d` or `h`, in any order (a unit
    /// given twice: the last one counts). Nil for anything else, negative numbers included.
    public init?(parsing text: String) {
        var s = Substring(text.trimmed)
        while !s.isEmpty {
            let digits = s.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, digits.count <= 9, let n = Int(digits) else { return nil }
            s = s.dropFirst(digits.count)
            guard let unit = s.first else { return nil }
            switch unit {
            case "y": years = n
            case "m": months = n
            case "d": days = n
            case "h": hours = n
            default: return nil
            }
            s = s.dropFirst()
        }
    }

    public var isZero: Bool { years == 0 && months == 0 && days == 0 && hours == 0 }

    /// `2y5m7d3h` with zero parts left out (restic's form).
    public var description: String {
        (years != 0 ? "\(years)y" : "") + (months != 0 ? "\(months)m" : "") + (days != 0 ? "\(days)d" : "") + (hours != 0 ? "\(hours)h" : "")
    }

    /// The instant this duration before `t`: years, months and days are taken off the local
    /// calendar date (keeping the wall-clock time; Oct 31 minus 1 month is Oct 1, as Go's
    /// AddDate normalizes Sep 31), then hours off the instant.
    public func before(_ t: Timestamp, in zone: any RetentionTimeZone) -> Timestamp {
        let c = zone.civil(t.seconds)
        let d = CivilTime.date(days: CivilTime.days(year: c.year - years, month: c.month - months, day: c.day - days))
        let s = zone.seconds(CivilTime(year: d.year, month: d.month, day: d.day, hour: c.hour, minute: c.minute, second: c.second))
        return Timestamp(seconds: s - Int64(hours) * 3600, nanos: t.subsecondNanos)
    }
}

/// Which snapshots `forget` keeps. Counts are a number of buckets, or -1 for all of them
/// (restic's `unlimited`); 0 means the rule is off.
public struct RetentionPolicy: Hashable, Sendable, CustomStringConvertible {
    public var last = 0, hourly = 0, daily = 0, weekly = 0, monthly = 0, yearly = 0
    public var within = RetentionDuration()
    public var withinHourly = RetentionDuration(), withinDaily = RetentionDuration(), withinWeekly = RetentionDuration()
    public var withinMonthly = RetentionDuration(), withinYearly = RetentionDuration()
    /// Tag lists: a snapshot that has every tag of one list is kept ("" matches a snapshot
    /// without tags).
    public var keepTags: [[String]] = []
    public init() {}

    public var isEmpty: Bool {
        [last, hourly, daily, weekly, monthly, yearly].allSatisfy { $0 == 0 }
            && [within, withinHourly, withinDaily, withinWeekly, withinMonthly, withinYearly].allSatisfy(\.isZero)
            && keepTags.isEmpty
    }

    /// "keep 2 latest snapshots, 7 daily snapshots and all snapshots within 30d of the newest".
    public var description: String {
        var counts: [String] = []
        for (n, name) in [(last, "latest"), (hourly, "hourly"), (daily, "daily"), (weekly, "weekly"), (monthly, "monthly"), (yearly, "yearly")] {
            if n > 0 { counts.append("\(n) \(name)") } else if n < 0 { counts.append("all \(name)") }
        }
        var s = counts.isEmpty ? "" : counts.joined(separator: ", ") + " snapshots"
        var w: [String] = []
        for (d, name) in [(withinHourly, "hourly"), (withinDaily, "daily"), (withinWeekly, "weekly"), (withinMonthly, "monthly"), (withinYearly, "yearly")]
        where !d.isZero { w.append("\(name) snapshots within \(d)") }
        if !w.isEmpty { s += (s.isEmpty ? "" : ", ") + w.joined(separator: ", ") }
        if !keepTags.isEmpty { s += (s.isEmpty ? "" : " and ") + "all snapshots with tags [" + keepTags.map(Retention.tagList).joined(separator: " ") + "]" }
        if !within.isZero { s += (s.isEmpty ? "" : " and ") + "all snapshots within \(within) of the newest" }
        return "keep " + s
    }
}

/// What the policy decided for one snapshot.
public struct RetentionDecision: Sendable {
    public var id: ID
    public var snapshot: Snapshot
    public var keep: Bool
    /// Why it is kept, in restic's words: "last snapshot", "daily snapshot", "within 30d",
    /// "daily within 30d", "has tags [a, b]", "policy is empty". Empty when removed.
    public var reasons: [String]
    /// Buckets left of each count after this snapshot (last, hourly, daily, weekly, monthly, yearly).
    public var counters: [Int]
}

/// How snapshots are grouped before the policy is applied to each group.
public struct RetentionGroupBy: Hashable, Sendable {
    public var host = true, paths = true, tags = false
    public init(host: Bool = true, paths: Bool = true, tags: Bool = false) { self.host = host; self.paths = paths; self.tags = tags }

    /// `host,paths,tags` or any subset; "" groups nothing (one group).
    public init?(parsing s: String) {
        host = false; paths = false; tags = false
        for part in s.split(separator: ",", omittingEmptySubsequences: true).map({ $0.trimmed }) {
            switch part {
            case "host": host = true
            case "paths", "path": paths = true
            case "tags", "tag": tags = true
            case "": break
            default: return nil
            }
        }
    }
}

/// The key of one group: the members grouped by (nil for the others).
public struct RetentionGroupKey: Hashable, Sendable, Comparable, Codable {
    public var host: String?
    public var paths: [String]?
    public var tags: [String]?
    public static func < (a: Self, b: Self) -> Bool {
        (a.host ?? "", (a.paths ?? []).joined(separator: "\n"), (a.tags ?? []).joined(separator: "\n"))
            < (b.host ?? "", (b.paths ?? []).joined(separator: "\n"), (b.tags ?? []).joined(separator: "\n"))
    }
}

public enum Retention {
    /// restic's rendering of a tag list: `[a, b]`.
    public static func tagList(_ l: [String]) -> String { "[" + l.joined(separator: ", ") + "]" }

    /// Splits snapshots into groups (sorted paths and tags form the key); groups in key order.
    public static func group(_ list: [(ID, Snapshot)], by g: RetentionGroupBy) -> [(key: RetentionGroupKey, snapshots: [(ID, Snapshot)])] {
        var groups: [RetentionGroupKey: [(ID, Snapshot)]] = [:]
        for item in list {
            let s = item.1
            let key = RetentionGroupKey(host: g.host ? s.hostname : nil, paths: g.paths ? s.paths.sorted() : nil,
                                        tags: g.tags ? s.tags.sorted() : nil)
            groups[key, default: []].append(item)
        }
        return groups.keys.sorted().map { ($0, groups[$0]!) }
    }

    /// Applies a policy to one group with restic's rules (0.14; `unlimited` as in later
    /// versions). Snapshots are taken newest first (the same instant: the greater ID first).
    /// A snapshot is kept when any rule keeps it:
    /// - `keepTags`: it has every tag of one list;
    /// - `within`: its time is after (strictly) the latest snapshot's time minus the duration;
    ///   the latest snapshot is the newest one not after `now`;
    /// - each count (last, hourly, daily, weekly, monthly, yearly) keeps the newest snapshot
    ///   of each of the newest N buckets: a snapshot whose local hour/day/ISO week/month/year
    ///   differs from the previous kept one's (for `last`, every snapshot) while count is left;
    /// - each within-bucket (hourly ... yearly) keeps the newest snapshot of every bucket among
    ///   the snapshots within the duration.
    /// Returns the decisions newest first. An empty policy keeps everything ("policy is empty").
    public static func apply(_ policy: RetentionPolicy, to list: [(ID, Snapshot)],
                             zone: any RetentionTimeZone = SystemTimeZone(), now: Timestamp = .now()) -> [RetentionDecision] {
        let sorted = list.sorted { ($0.1.timestamp, $0.0) > ($1.1.timestamp, $1.0) }
        if policy.isEmpty {
            return sorted.map { RetentionDecision(id: $0.0, snapshot: $0.1, keep: true, reasons: ["policy is empty"], counters: []) }
        }
        guard !sorted.isEmpty else { return [] }

        // Bucket values: one integer per local hour, day, ISO week, month and year.
        func ymdh(_ c: CivilTime) -> Int { ((c.year * 100 + c.month) * 100 + c.day) * 100 + c.hour }
        func ymd(_ c: CivilTime) -> Int { (c.year * 100 + c.month) * 100 + c.day }
        func yw(_ c: CivilTime) -> Int { let w = c.isoWeek; return w.year * 100 + w.week }
        func ym(_ c: CivilTime) -> Int { c.year * 100 + c.month }
        func y(_ c: CivilTime) -> Int { c.year }
        let buckers: [(CivilTime) -> Int] = [ymdh, ymd, yw, ym, y]

        var counts = [policy.last, policy.hourly, policy.daily, policy.weekly, policy.monthly, policy.yearly]
        var lastValue = [Int?](repeating: nil, count: 6)
        let countReasons = ["last snapshot", "hourly snapshot", "daily snapshot", "weekly snapshot", "monthly snapshot", "yearly snapshot"]
        let withins = [policy.withinHourly, policy.withinDaily, policy.withinWeekly, policy.withinMonthly, policy.withinYearly]
        let withinNames = ["hourly within", "daily within", "weekly within", "monthly within", "yearly within"]
        var withinLast = [Int?](repeating: nil, count: 5)

        // The newest snapshot not in the future; with none, every snapshot counts as within.
        let latest = sorted.first { $0.1.timestamp < now }?.1.timestamp
        func cutoff(_ d: RetentionDuration) -> Timestamp? { latest.map { d.before($0, in: zone) } }
        let withinCutoff = policy.within.isZero ? nil : cutoff(policy.within)
        let withinCutoffs = withins.map { $0.isZero ? nil : cutoff($0) }

        var out: [RetentionDecision] = []
        for (nr, (id, snap)) in sorted.enumerated() {
            var reasons: [String] = []
            let t = snap.timestamp
            let civil = zone.civil(t.seconds)
            for l in policy.keepTags where hasTags(snap, l) { reasons.append("has tags \(tagList(l))") }
            if !policy.within.isZero, withinCutoff.map({ t > $0 }) ?? true { reasons.append("within \(policy.within)") }
            for i in 0..<6 where counts[i] != 0 {
                let v = i == 0 ? nr : buckers[i - 1](civil)
                if v != lastValue[i] {
                    lastValue[i] = v
                    if counts[i] > 0 { counts[i] -= 1 }
                    reasons.append(countReasons[i])
                }
            }
            for i in 0..<5 where !withins[i].isZero {
                guard withinCutoffs[i].map({ t > $0 }) ?? true else { continue }
                let v = buckers[i](civil)
                if v != withinLast[i] {
                    withinLast[i] = v
                    reasons.append("\(withinNames[i]) \(withins[i])")
                }
            }
            out.append(RetentionDecision(id: id, snapshot: snap, keep: !reasons.isEmpty, reasons: reasons, counters: counts))
        }
        return out
    }

    /// restic's HasTags: every tag of the list is on the snapshot; "" matches a snapshot without tags.
    public static func hasTags(_ s: Snapshot, _ list: [String]) -> Bool {
        for tag in list {
            if tag.isEmpty && s.tags.isEmpty { return true }
            if !s.tags.contains(tag) { return false }
        }
        return true
    }
}

extension StringProtocol {
    fileprivate var trimmed: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
