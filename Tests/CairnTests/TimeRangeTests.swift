import CairnCore
import CairnTree
import CairnRepository
import Foundation
import Testing

/// Times outside Int64 nanoseconds (before 1677, after 2262) saturate instead of trapping.
@Suite struct TimeRangeTests {
    @Test func nanosecondsSaturate() {
        #expect(Timestamp.nanoseconds(seconds: 1, nanos: 5) == 1_000_000_005)
        #expect(Timestamp.nanoseconds(seconds: 10_000_000_000, nanos: 0) == .max)
        #expect(Timestamp.nanoseconds(seconds: -10_000_000_000, nanos: 0) == .min)
        #expect(Timestamp.nanoseconds(seconds: Int64.max / 1_000_000_000, nanos: 999_999_999) == .max)
    }

    @Test func aFileFromTheYear2300IsBackedUp() throws {
        let tmp = TempDir()
        let repo = try Fixtures.newRepository(tmp)
        let path = tmp.sub("src/future")
        Fixtures.write(path, Fixtures.random(1000, seed: "future"))
        var times = [timespec(tv_sec: 10_413_792_000, tv_nsec: 0), timespec(tv_sec: 10_413_792_000, tv_nsec: 0)]   // 2300-01-01
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
        let r = try EngineTests.backup(repo, [tmp.sub("src")])
        let reopened = try Fixtures.reopen(tmp)
        var mtime: Int64 = 0
        try reopened.walk(try reopened.loadSnapshot(r.snapshotID!).treeID!) { p, n in
            if p.hasSuffix("/future") { mtime = n.mtime }
            return true
        }
        #expect(mtime == .max)
        _ = try EngineTests.restore(reopened, r.snapshotID!, path: "", to: tmp.sub("out"))
        let same = Fixtures.read(tmp.sub("out") + path) == Fixtures.read(path)
        #expect(same)
    }
}
