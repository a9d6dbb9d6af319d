#if canImport(Glibc)
import Glibc
#endif

/// Wall-clock time in nanoseconds since the Unix epoch, UTC.
public struct Timestamp: Hashable, Comparable, Sendable {
    public var nanoseconds: Int64
    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }
    public init(seconds: Int64, nanos: Int64 = 0) { nanoseconds = Self.nanoseconds(seconds: seconds, nanos: nanos) }

    /// seconds × 10^9 + nanos, saturated to Int64's range (years 1677–2262): a file dated
    /// outside it is recorded at the nearest end instead of trapping.
    public static func nanoseconds(seconds: Int64, nanos: Int64) -> Int64 {
        let (m, o1) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if o1 { return seconds < 0 ? .min : .max }
        let (sum, o2) = m.addingReportingOverflow(nanos)
        if o2 { return nanos < 0 ? .min : .max }
        return sum
    }

    public static func now() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(seconds: Int64(ts.tv_sec), nanos: Int64(ts.tv_nsec))
    }
    /// Floor division, so times before 1970 keep a non-negative sub-second part. Defined for
    /// every Int64 (a tree may hold any value).
    public var seconds: Int64 {
        let (q, r) = nanoseconds.quotientAndRemainder(dividingBy: 1_000_000_000)
        return r < 0 ? q - 1 : q
    }
    public var subsecondNanos: Int64 {
        let r = nanoseconds % 1_000_000_000
        return r < 0 ? r + 1_000_000_000 : r
    }
    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.nanoseconds < b.nanoseconds }

    /// RFC 3339 in UTC with nanoseconds: 2026-11-21T21:46:19.123456789Z.
    public var rfc3339: String {
        var t = time_t(seconds)
        var tmv = tm()
        gmtime_r(&t, &tmv)
        func p(_ v: Int32, _ w: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
        let ns = String(subsecondNanos)
        return "\(p(tmv.tm_year + 1900, 4))-\(p(tmv.tm_mon + 1, 2))-\(p(tmv.tm_mday, 2))T\(p(tmv.tm_hour, 2)):\(p(tmv.tm_min, 2)):\(p(tmv.tm_sec, 2)).\(String(repeating: "0", count: 9 - ns.count))\(ns)Z"
    }

    /// Local time for display: 2026-11-21 21:46:19.
    public var localDisplay: String {
        var t = time_t(seconds)
        var tmv = tm()
        localtime_r(&t, &tmv)
        func p(_ v: Int32, _ w: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
        return "\(p(tmv.tm_year + 1900, 4))-\(p(tmv.tm_mon + 1, 2))-\(p(tmv.tm_mday, 2)) \(p(tmv.tm_hour, 2)):\(p(tmv.tm_min, 2)):\(p(tmv.tm_sec, 2))"
    }

    /// Parses RFC 3339 (`2026-11-21T21:46:19Z`, fraction and offset optional) or the local forms
    /// `2026-11-21 21:46[:19]` and `2026-11-21`.
    public static func parse(_ text: String) -> Timestamp? {
        let s = Array(text.utf8)
        func num(_ a: Int, _ n: Int) -> Int? {
            guard a + n <= s.count else { return nil }
            var v = 0
            for i in a..<a + n { guard s[i] >= 48 && s[i] <= 57 else { return nil }; v = v * 10 + Int(s[i] - 48) }
            return v
        }
        guard let y = num(0, 4), s.count >= 10, s[4] == 45, let mo = num(5, 2), s[7] == 45, let d = num(8, 2) else { return nil }
        var h = 0, mi = 0, se = 0, nanos: Int64 = 0
        var i = 10
        var utc = false
        var offset = 0
        if i < s.count, s[i] == 84 || s[i] == 32 {
            guard let hh = num(i + 1, 2), s.count > i + 3, s[i + 3] == 58, let mm = num(i + 4, 2) else { return nil }
            h = hh; mi = mm; i += 6
            if i < s.count, s[i] == 58 { guard let ss = num(i + 1, 2) else { return nil }; se = ss; i += 3 }
            if i < s.count, s[i] == 46 {
                i += 1; var digits = 0
                while i < s.count, s[i] >= 48, s[i] <= 57 {
                    if digits < 9 { nanos = nanos * 10 + Int64(s[i] - 48); digits += 1 }
                    i += 1
                }
                while digits < 9 { nanos *= 10; digits += 1 }
            }
            if i < s.count, s[i] == 90 { utc = true; i += 1 }
            else if i < s.count, s[i] == 43 || s[i] == 45 {
                guard let oh = num(i + 1, 2), s.count > i + 3, s[i + 3] == 58, let om = num(i + 4, 2) else { return nil }
                offset = (oh * 60 + om) * 60 * (s[i] == 45 ? -1 : 1); utc = true; i += 6
            }
        }
        guard i == s.count else { return nil }
        var tmv = tm()
        tmv.tm_year = Int32(y - 1900); tmv.tm_mon = Int32(mo - 1); tmv.tm_mday = Int32(d)
        tmv.tm_hour = Int32(h); tmv.tm_min = Int32(mi); tmv.tm_sec = Int32(se); tmv.tm_isdst = -1
        let secs: Int
        if utc { secs = Int(timegm(&tmv)) - offset } else { secs = Int(mktime(&tmv)) }
        // Int64 nanoseconds span 1677-09-21 to 2262-04-11; a 4-digit year can lie outside.
        // (Before 1970, count from the next second down so that the earliest second still fits.)
        let below = secs < 0 ? Int64(1) : 0
        let (ns, overflow) = (Int64(secs) + below).multipliedReportingOverflow(by: 1_000_000_000)
        let (total, overflow2) = ns.addingReportingOverflow(nanos - below * 1_000_000_000)
        guard !overflow, !overflow2 else { return nil }
        return Timestamp(nanoseconds: total)
    }
}
