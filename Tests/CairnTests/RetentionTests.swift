import CairnCore
import CairnRetention
import CairnFormat
import Foundation
import Testing

/// A time zone from the tz database through Foundation (ICU), for tests: the process's own
/// zone (what `cairn forget` uses through the C library) cannot be changed per test.
struct TZDatabaseZone: RetentionTimeZone {
    let calendar: Calendar
    init(_ name: String) {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone(identifier: name)!
        calendar = c
    }
    func civil(_ seconds: Int64) -> CivilTime {
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: Double(seconds)))
        return CivilTime(year: c.year!, month: c.month!, day: c.day!, hour: c.hour!, minute: c.minute!, second: c.second!)
    }
    func seconds(_ c: CivilTime) -> Int64 {
        let d = calendar.date(from: DateComponents(year: c.year, month: c.month, day: c.day, hour: c.hour, minute: c.minute, second: c.second))!
        return Int64(d.timeIntervalSince1970.rounded())
    }
}

/// Policy tables over plain (ID, Snapshot) lists: no repository.
@Suite struct RetentionTests {
    static let utc = FixedOffsetTimeZone()
    static let berlin = TZDatabaseZone("Europe/Berlin")
    static let newYork = TZDatabaseZone("America/New_York")

    static func id(_ n: Int) -> ID { ID(w0: 0, w1: 0, w2: 0, w3: UInt64(n)) }

    static func snap(_ t: Timestamp, tags: [String] = [], host: String = "h", paths: [String] = ["/data"]) -> Snapshot {
        Snapshot(time: t, tree: .zero, paths: paths, hostname: host, username: "u", uid: 0, gid: 0, tags: tags, parent: nil,
                 excludes: [], programVersion: "test", summary: .init())
    }

    static func at(_ s: String) -> Timestamp { Timestamp.parse(s)! }

    /// A local wall-clock time in a zone as an instant.
    static func local(_ zone: any RetentionTimeZone, _ y: Int, _ mo: Int, _ d: Int, _ h: Int = 0, _ mi: Int = 0, _ s: Int = 0) -> Timestamp {
        Timestamp(seconds: zone.seconds(CivilTime(year: y, month: mo, day: d, hour: h, minute: mi, second: s)))
    }

    /// Snapshot n (ID n) at times[n]; returns the kept ones' indices, newest first, and the decisions.
    static func run(_ p: RetentionPolicy, _ times: [Timestamp], tags: [[String]] = [], zone: any RetentionTimeZone = utc,
                    now: Timestamp = at("2100-01-01T00:00:00Z")) -> (kept: [Int], decisions: [RetentionDecision]) {
        let list = times.enumerated().map { (id($0.offset), snap($0.element, tags: $0.offset < tags.count ? tags[$0.offset] : [])) }
        let d = Retention.apply(p, to: list, zone: zone, now: now)
        return (d.filter(\.keep).map { Int($0.id.w3) }, d)
    }

    static func policy(_ f: (inout RetentionPolicy) -> Void) -> RetentionPolicy { var p = RetentionPolicy(); f(&p); return p }

    @Test func durationsParseLikeRestic() {
        #expect(RetentionDuration(parsing: "2y5m7d3h") == RetentionDuration(years: 2, months: 5, days: 7, hours: 3))
        #expect(RetentionDuration(parsing: "3h1y") == RetentionDuration(years: 1, hours: 3))
        #expect(RetentionDuration(parsing: " 30d ") == RetentionDuration(days: 30))
        #expect(RetentionDuration(parsing: "")?.isZero == true)
        for bad in ["5", "d", "5x", "-1d", "1.5d", "1d2", "10000000000d"] { #expect(RetentionDuration(parsing: bad) == nil, "\(bad)") }
        #expect(RetentionDuration(years: 2, months: 5, days: 7, hours: 3).description == "2y5m7d3h")
        #expect(RetentionDuration(days: 30).description == "30d")
    }

    @Test func isoWeeksAtYearBoundaries() {
        let table: [(Int, Int, Int, Int, Int)] = [
            (2020, 12, 31, 2020, 53), (2021, 1, 3, 2020, 53), (2021, 1, 4, 2021, 1),   // 2020: a leap year starting on Wednesday
            (2024, 12, 30, 2025, 1), (2025, 12, 28, 2025, 52), (2025, 12, 29, 2026, 1),
            (2026, 1, 1, 2026, 1), (2026, 12, 31, 2026, 53), (2027, 1, 3, 2026, 53), (2027, 1, 4, 2027, 1),   // 2026 starts on Thursday
            (2008, 12, 29, 2009, 1), (2010, 1, 3, 2009, 53), (2016, 2, 29, 2016, 9), (2000, 1, 1, 1999, 52),
        ]
        for (y, m, d, wy, w) in table {
            let iso = CivilTime(year: y, month: m, day: d).isoWeek
            #expect(iso.year == wy && iso.week == w, "\(y)-\(m)-\(d): \(iso)")
        }
    }

    /// Every day of 1899-2101 against Foundation's ISO 8601 calendar, and the day counting both ways.
    @Test func isoWeeksAndDayCountsMatchFoundation() {
        var cal = Calendar(identifier: .iso8601)
        cal.timeZone = TimeZone(identifier: "UTC")!
        let first = CivilTime.days(year: 1899, month: 1, day: 1), last = CivilTime.days(year: 2101, month: 12, day: 31)
        var mismatches = 0
        for d in first...last {
            let date = CivilTime.date(days: d)
            if CivilTime.days(year: date.year, month: date.month, day: date.day) != d { mismatches += 1 }
            let c = cal.dateComponents([.yearForWeekOfYear, .weekOfYear, .year, .month, .day], from: Date(timeIntervalSince1970: Double(d) * 86400))
            let iso = CivilTime(year: date.year, month: date.month, day: date.day).isoWeek
            if c.year != date.year || c.month != date.month || c.day != date.day || c.yearForWeekOfYear != iso.year || c.weekOfYear != iso.week {
                mismatches += 1
            }
        }
        #expect(mismatches == 0)
        #expect(CivilTime.days(year: 1970, month: 1, day: 1) == 0)
        #expect(CivilTime.days(year: 2026, month: 14, day: 1) == CivilTime.days(year: 2027, month: 2, day: 1))   // months roll over
        #expect(CivilTime.days(year: 2026, month: 2, day: 31) == CivilTime.days(year: 2026, month: 3, day: 3))  // so do days
        #expect(CivilTime.days(year: 2026, month: -1, day: 1) == CivilTime.days(year: 2025, month: 11, day: 1))
    }

    @Test func fixedOffsetZoneMatchesTheDatabaseForUTC() {
        let db = TZDatabaseZone("UTC")
        for s in stride(from: Int64(-2_000_000_000), to: 4_000_000_000, by: 7_777_777) {
            #expect(Self.utc.civil(s) == db.civil(s))
            #expect(Self.utc.seconds(Self.utc.civil(s)) == s)
        }
        #expect(FixedOffsetTimeZone(offsetSeconds: 3600).civil(0) == CivilTime(year: 1970, month: 1, day: 1, hour: 1))
    }

    @Test func emptyPolicyKeepsEverything() {
        let (kept, d) = Self.run(RetentionPolicy(), [Self.at("2026-01-01T00:00:00Z"), Self.at("2026-01-02T00:00:00Z")])
        #expect(kept == [1, 0])
        #expect(d.allSatisfy { $0.reasons == ["policy is empty"] })
    }

    @Test func keepLastKeepsTheNewest() {
        let times = (0..<5).map { Self.at("2026-01-0\($0 + 1)T12:00:00Z") }
        let (kept, d) = Self.run(Self.policy { $0.last = 2 }, times)
        #expect(kept == [4, 3])
        #expect(d[0].reasons == ["last snapshot"])
        #expect(d[0].counters[0] == 1 && d[1].counters[0] == 0)
        #expect(Self.run(Self.policy { $0.last = -1 }, times).kept == [4, 3, 2, 1, 0])
        #expect(Self.run(Self.policy { $0.last = 9 }, times).kept == [4, 3, 2, 1, 0])
    }

    @Test func dailyAndYearlyAcrossNewYear() {
        let times = ["2026-12-30T23:00:00Z", "2026-12-31T10:00:00Z", "2026-12-31T23:59:59Z", "2027-01-01T00:00:00Z", "2027-01-01T12:00:00Z"].map(Self.at)
        #expect(Self.run(Self.policy { $0.daily = 3 }, times).kept == [4, 2, 0])
        #expect(Self.run(Self.policy { $0.yearly = 2 }, times).kept == [4, 2])
        #expect(Self.run(Self.policy { $0.monthly = 5 }, times).kept == [4, 2])
        #expect(Self.run(Self.policy { $0.hourly = 3 }, times).kept == [4, 3, 2])
        // 2026-12-31 is a Thursday of week 53; 2027-01-01 (Friday) too.
        #expect(Self.run(Self.policy { $0.weekly = 5 }, times).kept == [4])
    }

    @Test func weeklyFollowsISOWeeks() {
        // Thu 2020-12-31 and Sun 2021-01-03 share week 2020-W53; Mon 2021-01-04 starts 2021-W01.
        let times = ["2020-12-28T08:00:00Z", "2020-12-31T08:00:00Z", "2021-01-03T08:00:00Z", "2021-01-04T08:00:00Z", "2021-01-10T23:00:00Z"].map(Self.at)
        let (kept, d) = Self.run(Self.policy { $0.weekly = 3 }, times)
        #expect(kept == [4, 2])   // 2021-W01 (its newest: Jan 10), 2020-W53 (its newest: Jan 3)
        #expect(d.first { $0.keep }!.reasons == ["weekly snapshot"])
        // A Monday just after midnight is a new week in Berlin while still Sunday in UTC.
        let mon = Self.local(Self.berlin, 2026, 11, 16, 0, 30), sun = Self.local(Self.berlin, 2026, 11, 15, 22, 0)
        #expect(Self.run(Self.policy { $0.weekly = 5 }, [sun, mon], zone: Self.berlin).kept == [1, 0])
        #expect(Self.run(Self.policy { $0.weekly = 5 }, [sun, mon], zone: Self.utc).kept == [1])
    }

    @Test func bucketsAreLocalDaysInBerlinAcrossSpringForward() {
        // 2026-03-29: 02:00 CET becomes 03:00 CEST.
        let times = ["2026-03-28T23:30:00Z", "2026-03-29T00:59:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z"].map(Self.at)
        #expect(Self.berlin.civil(times[0].seconds) == CivilTime(year: 2026, month: 3, day: 29, hour: 0, minute: 30))
        #expect(Self.berlin.civil(times[2].seconds) == CivilTime(year: 2026, month: 3, day: 29, hour: 3))
        // Local hours 00, 01, 03, 03.
        #expect(Self.run(Self.policy { $0.hourly = -1 }, times, zone: Self.berlin).kept == [3, 1, 0])
        // One local day in Berlin, two UTC days.
        #expect(Self.run(Self.policy { $0.daily = 2 }, times, zone: Self.berlin).kept == [3])
        #expect(Self.run(Self.policy { $0.daily = 2 }, times, zone: Self.utc).kept == [3, 0])
    }

    @Test func theRepeatedHourOfFallBackIsOneBucket() {
        // 2026-10-25 in Berlin: 02:30 CEST (00:30Z) and 02:30 CET (01:30Z) are the same wall-clock hour.
        let times = ["2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z"].map(Self.at)
        #expect(Self.berlin.civil(times[0].seconds).hour == 2 && Self.berlin.civil(times[1].seconds).hour == 2)
        #expect(Self.run(Self.policy { $0.hourly = 5 }, times, zone: Self.berlin).kept == [1])
        #expect(Self.run(Self.policy { $0.hourly = 5 }, times, zone: Self.utc).kept == [1, 0])
        // New York, 2026-11-01 lasts 25 hours: 00:30 EDT and 23:30 EST are 24 hours apart, one day.
        let ny = ["2026-11-01T04:30:00Z", "2026-11-02T04:30:00Z"].map(Self.at)
        #expect(Self.newYork.civil(ny[1].seconds) == CivilTime(year: 2026, month: 11, day: 1, hour: 23, minute: 30))
        #expect(Self.run(Self.policy { $0.daily = 5 }, ny, zone: Self.newYork).kept == [1])
        #expect(Self.run(Self.policy { $0.daily = 5 }, ny, zone: Self.utc).kept == [1, 0])
    }

    @Test func keepWithinBoundaryIsExclusive() {
        let latest = Self.at("2026-06-15T12:00:00Z")
        let times = [Self.at("2026-06-13T12:00:00Z"), Timestamp(nanoseconds: Self.at("2026-06-13T12:00:00Z").nanoseconds + 1),
                     Self.at("2026-06-10T00:00:00Z"), latest]
        let (kept, d) = Self.run(Self.policy { $0.within = RetentionDuration(days: 2) }, times)
        #expect(kept == [3, 1])   // exactly two days before the newest is out, a nanosecond later in
        #expect(d.first!.reasons == ["within 2d"])
        // Hours count on the instant: 48h is the same cut in UTC.
        #expect(Self.run(Self.policy { $0.within = RetentionDuration(hours: 48) }, times).kept == [3, 1])
    }

    @Test func keepWithinCountsCalendarDaysAcrossDST() {
        // Latest 2026-03-29 14:00 CEST (12:00Z). One day back on the calendar: 03-28 14:00 CET = 13:00Z, 23 hours earlier.
        let latest = Self.at("2026-03-29T12:00:00Z")
        let times = [Self.at("2026-03-28T12:30:00Z"), Self.at("2026-03-28T13:00:01Z"), latest]
        #expect(Self.run(Self.policy { $0.within = RetentionDuration(days: 1) }, times, zone: Self.berlin).kept == [2, 1])
        #expect(Self.run(Self.policy { $0.within = RetentionDuration(days: 1) }, times, zone: Self.utc).kept == [2, 1, 0])
        #expect(Self.run(Self.policy { $0.within = RetentionDuration(hours: 24) }, times, zone: Self.berlin).kept == [2, 1, 0])
    }

    @Test func keepWithinOnLeapDaysAndMonthEnds() {
        // 2028-02-29 minus one year is "2027-02-29", which rolls over to 2027-03-01 (Go's AddDate).
        let latest = Self.at("2028-02-29T12:00:00Z")
        let times = [Self.at("2027-02-28T23:00:00Z"), Self.at("2027-03-01T12:00:00Z"), Self.at("2027-03-01T12:00:01Z"), latest]
        #expect(Self.run(Self.policy { $0.within = RetentionDuration(years: 1) }, times).kept == [3, 2])
        // 2026-03-31 minus one month is "2026-02-31" = 2026-03-03.
        let m = [Self.at("2026-03-03T06:00:00Z"), Self.at("2026-03-03T06:00:01Z"), Self.at("2026-03-31T06:00:00Z")]
        #expect(Self.run(Self.policy { $0.within = RetentionDuration(months: 1) }, m).kept == [2, 1])
        #expect(RetentionDuration(months: 1).before(Self.at("2026-03-31T06:00:00Z"), in: Self.utc) == Self.at("2026-03-03T06:00:00Z"))
        // A leap day is its own daily bucket.
        let leap = ["2028-02-28T22:00:00Z", "2028-02-29T01:00:00Z", "2028-02-29T23:00:00Z", "2028-03-01T00:00:00Z"].map(Self.at)
        #expect(Self.run(Self.policy { $0.daily = -1 }, leap).kept == [3, 2, 0])
    }

    @Test func keepWithinIsRelativeToTheNewestSnapshotNotInTheFuture() {
        let now = Self.at("2026-01-01T00:00:00Z")
        let times = [Self.at("2025-12-01T00:00:00Z"), Self.at("2025-12-30T00:00:00Z"), Self.at("2026-06-01T00:00:00Z")]
        // Latest is 2025-12-30 (2026-06-01 is in the future); the future one is within too.
        #expect(Self.run(Self.policy { $0.within = RetentionDuration(days: 7) }, times, now: now).kept == [2, 1])
        // All in the future: everything is within.
        #expect(Self.run(Self.policy { $0.within = RetentionDuration(days: 1) }, times, now: Self.at("2000-01-01T00:00:00Z")).kept == [2, 1, 0])
    }

    @Test func withinBucketsKeepTheNewestOfEachBucketInTheWindow() {
        let times = ["2026-05-01T10:00:00Z", "2026-05-01T20:00:00Z", "2026-05-02T10:00:00Z", "2026-05-02T20:00:00Z", "2026-05-03T10:00:00Z"].map(Self.at)
        let (kept, d) = Self.run(Self.policy { $0.withinDaily = RetentionDuration(days: 1) }, times)
        #expect(kept == [4, 3])   // cutoff 05-02 10:00, strictly after
        #expect(d[0].reasons == ["daily within 1d"])
        #expect(Self.run(Self.policy { $0.withinDaily = RetentionDuration(days: 5) }, times).kept == [4, 3, 1])
        #expect(Self.run(Self.policy { $0.withinHourly = RetentionDuration(days: 5) }, times).kept == [4, 3, 2, 1, 0])
        #expect(Self.run(Self.policy { $0.withinMonthly = RetentionDuration(years: 1) }, times).kept == [4])
        #expect(Self.run(Self.policy { $0.withinYearly = RetentionDuration(years: 1); $0.withinWeekly = RetentionDuration(days: 3) }, times).kept == [4])
    }

    @Test func sameInstantSnapshots() {
        let t = Self.at("2026-04-01T08:00:00Z")
        let (kept, d) = Self.run(Self.policy { $0.last = 1 }, [t, t, t])
        #expect(kept == [2])   // the same instant: the greatest ID counts as newest
        #expect(d.map { Int($0.id.w3) } == [2, 1, 0])
        #expect(Self.run(Self.policy { $0.daily = 3 }, [t, t, t]).kept == [2])
        #expect(Self.run(Self.policy { $0.within = RetentionDuration(hours: 1) }, [t, t, t]).kept == [2, 1, 0])
    }

    @Test func keepTagAndCombinedReasons() {
        let times = ["2026-01-01T10:00:00Z", "2026-02-01T10:00:00Z", "2026-02-03T10:00:00Z", "2026-02-03T11:00:00Z"].map(Self.at)
        let tags = [["a", "b"], ["a"], [], ["x"]]
        let p = Self.policy { $0.keepTags = [["a", "b"], ["x"]]; $0.last = 1; $0.daily = 2; $0.monthly = 2; $0.within = RetentionDuration(hours: 1); $0.withinDaily = RetentionDuration(days: 3) }
        let (kept, d) = Self.run(p, times, tags: tags)
        #expect(kept == [3, 1, 0])
        #expect(d[0].reasons == ["has tags [x]", "within 1h", "last snapshot", "daily snapshot", "monthly snapshot", "daily within 3d"])
        #expect(d[1].keep == false && d[1].reasons.isEmpty)   // same day and month as the newest, outside 1h
        #expect(d[2].reasons == ["daily snapshot", "daily within 3d"])   // a second day; monthly: the newest's month
        #expect(d[3].reasons == ["has tags [a, b]", "monthly snapshot"])
        #expect(d[0].counters == [0, 0, 1, 0, 1, 0])
        // "" matches a snapshot without tags.
        #expect(Self.run(Self.policy { $0.keepTags = [[""]] }, times, tags: tags).kept == [2])
        #expect(Self.run(Self.policy { $0.keepTags = [["a"]] }, times, tags: tags).kept == [1, 0])
    }

    @Test func groupByVariants() {
        func s(_ host: String, _ paths: [String], _ tags: [String]) -> (ID, Snapshot) {
            (Self.id(Int.random(in: 0..<1_000_000)), Self.snap(Self.at("2026-01-01T00:00:00Z"), tags: tags, host: host, paths: paths))
        }
        let list = [s("a", ["/x"], ["t"]), s("a", ["/x"], []), s("a", ["/y"], ["t"]), s("b", ["/x"], ["t", "u"]), s("b", ["/x"], ["u", "t"])]
        func counts(_ g: String) -> [Int] { Retention.group(list, by: RetentionGroupBy(parsing: g)!).map(\.snapshots.count) }
        #expect(counts("host,paths") == [2, 1, 2])
        #expect(counts("host") == [3, 2])
        #expect(counts("paths") == [4, 1])
        #expect(counts("tags") == [1, 2, 2])
        #expect(counts("host,paths,tags") == [1, 1, 1, 2])   // tags are a set: t,u = u,t
        #expect(counts("") == [5])
        #expect(RetentionGroupBy(parsing: "host,colour") == nil)
        let keys = Retention.group(list, by: RetentionGroupBy(parsing: "host")!).map(\.key)
        #expect(keys.map(\.host) == ["a", "b"] && keys.allSatisfy { $0.paths == nil && $0.tags == nil })
    }

    @Test func policyDescriptionReadsLikeRestics() {
        let p = Self.policy { $0.last = 2; $0.daily = -1; $0.withinWeekly = RetentionDuration(months: 3); $0.keepTags = [["a", "b"]]; $0.within = RetentionDuration(days: 30) }
        #expect(p.description == "keep 2 latest, all daily snapshots, weekly snapshots within 3m and all snapshots with tags [[a, b]] and all snapshots within 30d of the newest")
    }

    /// The count rules against a plain restatement: keep the newest snapshot of each of the newest N distinct buckets.
    @Test func countRulesKeepTheNewestOfTheNewestBuckets() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let n = Int.random(in: 1...40, using: &rng)
            let base = Self.at("2024-01-01T00:00:00Z").seconds
            let times = (0..<n).map { _ in Timestamp(seconds: base + Int64.random(in: 0..<(3 * 365 * 86400), using: &rng)) }
            let k = Int.random(in: 1...6, using: &rng)
            let order = times.indices.sorted { (times[$0], $0) > (times[$1], $1) }
            let rules: [(Int, (CivilTime) -> String)] = [(2, { "\($0.year)-\($0.month)-\($0.day)" }), (3, { "\($0.isoWeek)" }), (4, { "\($0.year)-\($0.month)" })]
            for (rule, key) in rules {
                let p = Self.policy { if rule == 2 { $0.daily = k } else if rule == 3 { $0.weekly = k } else { $0.monthly = k } }
                var seen: [String] = [], expected: [Int] = []
                for i in order {
                    let b = key(Self.berlin.civil(times[i].seconds))
                    if seen.last != b && seen.count < k { seen.append(b); expected.append(i) }
                }
                #expect(Self.run(p, times, zone: Self.berlin).kept == expected)
            }
        }
    }
}
