import ArgumentParser
import CairnCommands
import CairnCore
import CairnBrowse
import CairnTree
import CairnFormat
import CairnRepository
import FoundationEssentials

struct Snapshots: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List snapshots.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var filters: FilterOptions

    func run() throws {
        var c = SnapshotsCommand()
        c.filter = try filters.filter
        let list = try global.run(c).map { ($0.id, $0.snapshot) }
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
    static let configuration = CommandConfiguration(abstract: "List files in a snapshot (and the members of a tar stream).")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var filters: FilterOptions
    @Argument(help: "Snapshot ID, prefix or `latest`.") var snapshot: String
    @Argument(help: "Folder or file in the snapshot; in a tar stream snapshot also STREAM:PATH or /STREAM/PATH.") var path: String = "/"
    @Flag(name: [.short, .long], help: "Mode, owner, size and time too.") var long = false
    @Flag(help: "Only the named folder, not below it.") var noRecursive = false
    @Flag(help: "Do not list the members of a tar stream snapshot's stream.") var noMembers = false

    func run() throws {
        let repo = try global.open()
        try repo.loadIndex()
        let (id, snap) = try repo.resolveSnapshot(snapshot, filter: try filters.filter)
        let tar = noMembers ? nil : openTarStream(repo, snap)
        let out = LsOutput(json: global.json, long: long)
        if !global.json && !global.quiet { stderr("snapshot \(id.short) of \(snap.paths.joined(separator: ", ")) at \(snap.timestamp.localDisplay):") }
        if let tar, let inner = tar.inner(path) {
            try listMembers(tar, under: inner, recursive: !noRecursive, out: out)
        } else {
            let start = try repo.node(at: path, root: snap.treeID!)
            let prefix = path == "/" ? "" : "/" + path.split(separator: "/").joined(separator: "/")
            if let sub = start.subtree {
                try repo.walk(sub, prefix: prefix) { p, n in
                    out.emit(p, n)
                    if let tar, n == tar.node, !noRecursive { try listMembers(tar, under: [], recursive: true, out: out) }
                    return !noRecursive
                }
            } else { out.emit(prefix, start) }
        }
        if global.json { try global.emit(json: out.entries) }
    }
}

/// One line (or JSON object) of `ls`.
struct LsEntry: Encodable {
    var path: String; var type: String; var mode: UInt32; var uid: UInt32; var gid: UInt32; var user: String; var group: String
    var size: UInt64; var mtime: String; var link_target: String?
}

/// Prints `ls` lines as they come, or collects them for JSON.
final class LsOutput {
    let json: Bool, long: Bool
    var entries: [LsEntry] = []
    init(json: Bool, long: Bool) { self.json = json; self.long = long }

    func emit(_ p: String, _ n: Node) {
        emit(LsEntry(path: p, type: "\(n.type)", mode: n.mode, uid: n.uid, gid: n.gid, user: String(decoding: n.user, as: UTF8.self),
                     group: String(decoding: n.group, as: UTF8.self), size: n.size, mtime: Timestamp(nanoseconds: n.mtime).rfc3339,
                     link_target: n.type == .symlink ? String(decoding: n.linkTarget, as: UTF8.self) : nil),
             typeChar: modeChar(n.type), mtime: n.mtime, suffix: n.type == .symlink ? " -> " + String(decoding: n.linkTarget, as: UTF8.self) : "")
    }

    func emit(_ e: LsEntry, typeChar: Character, mtime: Int64, suffix: String) {
        if json { entries.append(e); return }
        if long {
            let size = String(e.size)
            stdout("\(modeString(typeChar, e.mode)) \(pad(e.user.isEmpty ? String(e.uid) : e.user, 8)) \(pad(e.group.isEmpty ? String(e.gid) : e.group, 8)) \(String(repeating: " ", count: max(0, 12 - size.count)))\(size) \(Timestamp(nanoseconds: mtime).localDisplay) \(e.path)\(suffix)")
        } else { stdout(e.path) }
    }
}

func modeChar(_ t: NodeType) -> Character {
    switch t { case .directory: return "d"; case .symlink: return "l"; case .charDevice: return "c"; case .blockDevice: return "b"; case .fifo: return "p"; case .socket: return "s"; case .file: return "-" }
}

func modeString(_ n: Node) -> String { modeString(modeChar(n.type), n.mode) }

func modeString(_ t: Character, _ mode: UInt32) -> String {
    var s = String(t)
    let chars: [Character] = ["r", "w", "x"]
    for i in 0..<9 { s.append(mode & (1 << (8 - i)) != 0 ? chars[i % 3] : "-") }
    return s
}

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sizes: restore size, stored size, dedup ratio; or one of restic's counts with --mode.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var filters: FilterOptions
    @Argument(help: "Snapshot IDs (default: all).") var snapshots: [String] = []
    @Option(help: ArgumentHelp("Count as restic does: restore-size, raw-data, blobs-per-file or files-by-contents (default: cairn's summary).", valueName: "mode"))
    var mode: StatsMode?

    func run() throws {
        var c = StatsCommand()
        c.snapshots = snapshots
        c.filter = try filters.filter
        c.mode = mode
        let r = try global.run(c)
        guard case .summary(let s) = r else {
            if case .mode(let m) = r, let mode { try show(m, mode) }
            return
        }
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

    /// restic's layout: right-aligned labels, the numbers a mode fills.
    func show(_ s: ModeStats, _ mode: StatsMode) throws {
        if global.json { try emitLine(json: s); return }
        stdout("Stats in \(mode.rawValue) mode:")
        var rows = [("Snapshots processed", "\(s.snapshotsCount)")]
        if mode != .rawData { rows.append(("Total File Count", "\(s.totalFileCount)")) }
        if let b = s.totalBlobCount { rows.append(("Total Blob Count", "\(b)")) }
        if let u = s.totalUncompressedSize { rows.append(("Total Uncompressed Size", formatBytes(u))) }
        rows.append(("Total Size", formatBytes(s.totalSize)))
        if let p = s.compressionProgress { rows.append(("Compression Progress", fixed(p, 2) + "%")) }
        if let r = s.compressionRatio { rows.append(("Compression Ratio", fixed(r, 2) + "x")) }
        if let v = s.compressionSpaceSaving { rows.append(("Compression Space Saving", fixed(v, 2) + "%")) }
        let width = rows.map(\.0.count).max() ?? 0
        for (label, value) in rows { stdout(String(repeating: " ", count: width - label.count) + label + ":   " + value) }
    }
}
