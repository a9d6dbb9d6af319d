import CairnCore
import CairnFormat
#if canImport(Glibc)
import Glibc
#endif

/// The folders above the snapshots, as restic's mount lays them out:
///
///     ids/<short id>/                 every snapshot by its short ID
///     snapshots/<time>/, latest       by time (2026-11-22T09:15:02+01:00, local time)
///     hosts/<host>/<time>/, latest    by host, then time
///     tags/<tag>/<time>/, latest      by tag, then time
///
/// A second snapshot that would get the same name gets `-1` after it, a third `-2`, and so on.
/// `latest` is a symbolic link to the newest name beside it. Built from the snapshot list
/// alone: nothing is read from the snapshots' trees.
public struct MountLayout: Sendable {
    /// A folder of the layout: names in listing order, each a folder, a link or a snapshot.
    public struct Folder: Sendable {
        public private(set) var names: [String] = []
        public private(set) var entries: [String: Entry] = [:]
        /// The newest snapshot time below it (the folder's mtime).
        public private(set) var time = Timestamp(nanoseconds: 0)

        mutating func add(_ name: String, _ entry: Entry, time t: Timestamp) {
            if entries.updateValue(entry, forKey: name) == nil { names.append(name) }
            time = max(time, t)
        }

        /// `base`, or `base-1`, `base-2`, ... : the first not taken yet.
        func unique(_ base: String) -> String {
            var name = base, i = 0
            while entries[name] != nil { i += 1; name = "\(base)-\(i)" }
            return name
        }

        public subscript(_ name: String) -> Entry? { entries[name] }
    }

    public indirect enum Entry: Sendable {
        case folder(Folder)
        case link(target: String, time: Timestamp)
        case snapshot(ID, Snapshot)
    }

    public private(set) var root = Folder()

    /// `snapshots` oldest first (as `Repository.snapshots()` gives them). `offset` gives a
    /// time's UTC offset in seconds (default: the local one).
    public init(snapshots: [(ID, Snapshot)], offset: (Timestamp) -> Int = MountLayout.localOffset) {
        var byID = Folder(), byTime = Folder()
        var hosts: [String: Folder] = [:], tags: [String: Folder] = [:]
        var hostOrder: [String] = [], tagOrder: [String] = []
        for (id, snap) in snapshots {
            let t = snap.timestamp
            let time = Self.timeName(t, utcOffset: offset(t))
            byID.add(byID.unique(id.short), .snapshot(id, snap), time: t)
            byTime.add(byTime.unique(time), .snapshot(id, snap), time: t)
            if Self.isUsable(snap.hostname) {
                if hosts[snap.hostname] == nil { hostOrder.append(snap.hostname) }
                hosts[snap.hostname, default: Folder()].addSnapshot(time, id, snap)
            }
            for tag in snap.tags where Self.isUsable(tag) {
                if tags[tag] == nil { tagOrder.append(tag) }
                tags[tag, default: Folder()].addSnapshot(time, id, snap)
            }
        }
        byTime.addLatest()
        var hostFolder = Folder(), tagFolder = Folder()
        for h in hostOrder.sorted() { var f = hosts[h]!; f.addLatest(); hostFolder.add(h, .folder(f), time: f.time) }
        for t in tagOrder.sorted() { var f = tags[t]!; f.addLatest(); tagFolder.add(t, .folder(f), time: f.time) }
        root.add("ids", .folder(byID), time: byID.time)
        root.add("snapshots", .folder(byTime), time: byTime.time)
        root.add("hosts", .folder(hostFolder), time: hostFolder.time)
        root.add("tags", .folder(tagFolder), time: tagFolder.time)
    }

    /// A host or tag that can be a file name.
    static func isUsable(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && name != "latest" && !name.utf8.contains(0x2F) && !name.utf8.contains(0)
    }

    /// restic's time format, Go's `2006-01-02T15:04:05Z07:00`: `Z` at UTC, else `+01:00`.
    public static func timeName(_ t: Timestamp, utcOffset: Int) -> String {
        var secs = time_t(t.seconds + Int64(utcOffset))
        var tmv = tm()
        gmtime_r(&secs, &tmv)
        func p(_ v: Int, _ w: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
        var s = "\(p(Int(tmv.tm_year) + 1900, 4))-\(p(Int(tmv.tm_mon) + 1, 2))-\(p(Int(tmv.tm_mday), 2))T"
            + "\(p(Int(tmv.tm_hour), 2)):\(p(Int(tmv.tm_min), 2)):\(p(Int(tmv.tm_sec), 2))"
        if utcOffset == 0 { s += "Z" } else {
            let m = abs(utcOffset) / 60
            s += (utcOffset < 0 ? "-" : "+") + p(m / 60, 2) + ":" + p(m % 60, 2)
        }
        return s
    }

    /// The local UTC offset at a time, in seconds.
    public static func localOffset(_ t: Timestamp) -> Int {
        var secs = time_t(t.seconds)
        var tmv = tm()
        localtime_r(&secs, &tmv)
        return Int(tmv.tm_gmtoff)
    }
}

extension MountLayout.Folder {
    mutating func addSnapshot(_ time: String, _ id: ID, _ snap: Snapshot) {
        add(unique(time), .snapshot(id, snap), time: snap.timestamp)
    }

    /// `latest` -> the newest snapshot's name (the last added: snapshots come oldest first).
    mutating func addLatest() {
        guard let last = names.last else { return }
        add("latest", .link(target: last, time: time), time: time)
    }
}
