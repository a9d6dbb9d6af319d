import ArgumentParser
import CairnCore
import CairnEngine
import CairnFormat
import CairnRepository
import FoundationEssentials

struct Snapshots: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List snapshots.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var filters: FilterOptions

    func run() throws {
        let repo = try global.open()
        let (all, bad) = try repo.snapshots()
        let f = try filters.filter
        let list = all.filter { f.matches($0.1) }
        for (id, e) in bad { stderr("warning: snapshot \(id.short) unreadable: \(e)") }
        if global.json {
            struct Out: Encodable { var id: String; var snapshot: Snapshot }
            try global.emit(json: list.map { Out(id: $0.0.hex, snapshot: $0.1) })
            return
        }
        stdout("ID        Time                 Host             Tags         Size        Paths")
        stdout(String(repeating: "-", count: 90))
        for (id, s) in list {
            let cols = [id.short, s.timestamp.localDisplay, pad(s.hostname, 16), pad(s.tags.joined(separator: ","), 12),
                        pad(formatBytes(s.summary.totalBytes), 11), s.paths.joined(separator: ", ")]
            stdout(cols.joined(separator: " "))
        }
        stdout(String(repeating: "-", count: 90))
        stdout("\(list.count) snapshot(s)")
    }
}

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }

struct Ls: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List files in a snapshot.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var filters: FilterOptions
    @Argument(help: "Snapshot ID, prefix or `latest`.") var snapshot: String
    @Argument(help: "Folder or file in the snapshot.") var path: String = "/"
    @Flag(name: [.short, .long], help: "Mode, owner, size and time too.") var long = false
    @Flag(help: "Only the named folder, not below it.") var noRecursive = false

    func run() throws {
        let repo = try global.open()
        try repo.loadIndex()
        let (id, snap) = try repo.resolveSnapshot(snapshot, filter: try filters.filter)
        let start = try repo.node(at: path, root: snap.treeID!)
        let prefix = path == "/" ? "" : "/" + path.split(separator: "/").joined(separator: "/")
        struct Entry: Encodable { var path: String; var type: String; var mode: UInt32; var uid: UInt32; var gid: UInt32; var user: String; var group: String; var size: UInt64; var mtime: String; var link_target: String? }
        var entries: [Entry] = []
        func emit(_ p: String, _ n: Node) {
            let e = Entry(path: p, type: "\(n.type)", mode: n.mode, uid: n.uid, gid: n.gid, user: String(decoding: n.user, as: UTF8.self),
                          group: String(decoding: n.group, as: UTF8.self), size: n.size, mtime: Timestamp(nanoseconds: n.mtime).rfc3339,
                          link_target: n.type == .symlink ? String(decoding: n.linkTarget, as: UTF8.self) : nil)
            if global.json { entries.append(e); return }
            if long {
                stdout("\(modeString(n)) \(pad(e.user.isEmpty ? String(n.uid) : e.user, 8)) \(pad(e.group.isEmpty ? String(n.gid) : e.group, 8)) \(String(repeating: " ", count: max(0, 12 - String(n.size).count)))\(n.size) \(Timestamp(nanoseconds: n.mtime).localDisplay) \(p)\(n.type == .symlink ? " -> " + (e.link_target ?? "") : "")")
            } else { stdout(p) }
        }
        if !global.json && !global.quiet { stderr("snapshot \(id.short) of \(snap.paths.joined(separator: ", ")) at \(snap.timestamp.localDisplay):") }
        if let sub = start.subtree {
            try repo.walk(sub, prefix: prefix) { p, n in emit(p, n); return !noRecursive }
        } else { emit(prefix, start) }
        if global.json { try global.emit(json: entries) }
    }
}

func modeString(_ n: Node) -> String {
    let t: Character
    switch n.type { case .directory: t = "d"; case .symlink: t = "l"; case .charDevice: t = "c"; case .blockDevice: t = "b"; case .fifo: t = "p"; case .socket: t = "s"; case .file: t = "-" }
    var s = String(t)
    let chars: [Character] = ["r", "w", "x"]
    for i in 0..<9 { s.append(n.mode & (1 << (8 - i)) != 0 ? chars[i % 3] : "-") }
    return s
}

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Sizes: restore size, stored size, dedup ratio.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var filters: FilterOptions
    @Argument(help: "Snapshot IDs (default: all).") var snapshots: [String] = []

    func run() throws {
        let repo = try global.open()
        try repo.loadIndex()
        let f = try filters.filter
        let snaps = snapshots.isEmpty ? try repo.snapshots().snapshots.filter { f.matches($0.1) }.map(\.1)
            : try snapshots.map { try repo.resolveSnapshot($0, filter: f).1 }
        let s = try repo.stats(snapshots: snaps)
        if global.json { try global.emit(json: s); return }
        stdout("Snapshots:            \(s.snapshots)")
        stdout("Files (all snapshots): \(s.files)")
        stdout("Restore size:         \(formatBytes(s.restoreSize))")
        stdout("Unique data:          \(formatBytes(s.uniquePlainSize)) in \(s.uniqueBlobs) blobs")
        stdout("Stored (unique data): \(formatBytes(s.uniqueStoredSize))")
        stdout("Repository packs:     \(formatBytes(s.packBytes))")
        stdout("Dedup ratio:          \(fixed(s.dedupRatio, 2))x")
        stdout("Compression ratio:    \(fixed(s.compressionRatio, 2))x")
    }
}
