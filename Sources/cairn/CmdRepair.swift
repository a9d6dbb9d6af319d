import ArgumentParser
import CairnCommands
import CairnCore
import CairnCheck
import CairnTree
import CairnRepository
import CairnStorage

struct Repair: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Salvage a damaged repository.",
        discussion: """
        Order after damage: `repair index` (when index files are damaged or gone), then \
        `repair packs` (keeps every blob of a damaged pack that still authenticates), then \
        `repair snapshots` (marks the files that lost data). Each writes its replacement \
        before deleting anything and holds an exclusive lock.
        """,
        subcommands: [RepairIndex.self, RepairPacks.self, RepairSnapshots.self])
}

struct RepairIndex: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Rebuild the index from the pack headers (also when every index file is gone).")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .customLong("read-all-packs"), help: "Read every pack whole and check its SHA-256 name.") var readAll = false
    @Flag(name: .customLong("dry-run"), help: "Only report what would change.") var dryRun = false

    func run() throws {
        var c = RepairIndexCommand()
        c.readAllPacks = readAll; c.dryRun = dryRun
        let r = try global.runWithProgress(c, verb: "repair index")
        if global.json { try global.emit(json: r); return }
        for p in r.added { stdout("pack \(p.prefix(16)): was not indexed, now indexed") }
        for p in r.missing { stdout("pack \(p.prefix(16)): listed but missing from the store, no longer listed") }
        for p in r.unreadable { stdout("pack \(p.prefix(16)): header unreadable (run `cairn repair packs`)") }
        for p in r.damaged { stdout("pack \(p.prefix(16)): content does not match its name (run `cairn repair packs`)") }
        stdout("\(dryRun ? "would write" : "wrote") an index of \(r.packs) packs, \(r.blobs) blobs, replacing \(r.filesReplaced) index file(s)")
    }
}

struct RepairPacks: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "packs",
        abstract: "Rewrite damaged packs: keep every blob that still authenticates, then delete them.",
        discussion: "Without IDs, reads every pack to find the damaged ones.")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .customLong("dry-run"), help: "Only report what would be salvaged and lost.") var dryRun = false
    @Argument(help: "Pack IDs (full, 64 hex digits) to repair.") var packs: [String] = []

    func run() throws {
        let ids = try packs.map { s -> ID in
            guard let id = ID(hex: s) else { throw ValidationError("\(s) is not a full pack ID") }
            return id
        }
        var c = RepairPacksCommand(packs: ids.isEmpty ? nil : ids)
        c.dryRun = dryRun
        let r = try global.runWithProgress(c, verb: "repair packs")
        if global.json { try global.emit(json: r); return }
        if r.damaged.isEmpty { stdout("no damaged packs"); return }
        for p in r.damaged { stdout("pack \(p.prefix(16)): damaged\(dryRun ? "" : ", replaced and deleted")") }
        stdout("\(r.salvaged) blob(s) \(dryRun ? "can be" : "were") salvaged, \(r.elsewhere) held by other packs, \(r.lost.count) lost")
        if !r.lost.isEmpty { stdout("run `cairn repair snapshots` to mark the files that lost data") }
    }
}

struct RepairSnapshots: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshots",
        abstract: "Rewrite snapshots that reference missing blobs, marking what was lost.",
        discussion: """
        A file missing chunks keeps the chunks that remain (it restores shorter) and is marked \
        damaged; a directory whose tree is missing becomes empty and marked. The new snapshot \
        (tag `repaired`, `original` = the old ID) is written before the old one is deleted. \
        --from takes missing blobs from a copy of this repository instead.
        """)
    @OptionGroup var global: GlobalOptions
    @Flag(name: .customLong("dry-run"), help: "Only show what would be rewritten.") var dryRun = false
    @Option(name: .customLong("from"), help: ArgumentHelp("A copy of this repository to take missing blobs from (same password).", valueName: "path"))
    var from: String?
    @Flag(name: .customLong("remove-unreadable"), help: "Delete snapshot files that do not authenticate or match their name (nothing can read them).")
    var removeUnreadable = false
    @Argument(help: "Snapshots to repair (default: all).") var snapshots: [String] = []

    func run() throws {
        var c = RepairSnapshotsCommand()
        if let from {
            var g = global
            g.repo = from
            c.source = try g.open()
        }
        c.snapshots = snapshots; c.dryRun = dryRun; c.removeUnreadable = removeUnreadable
        let r = try global.runWithProgress(c, verb: "repair snapshots")
        if global.json { try global.emit(json: r); return }
        for u in r.unreadable {
            stdout("snapshot \(u.prefix(8)): unreadable, \(r.removed.contains(u) ? "deleted" : "left in place (--remove-unreadable deletes it)")")
        }
        for s in r.rewritten {
            stdout("snapshot \(s.original.prefix(8))\(s.replacement.map { " -> \($0.prefix(8))" } ?? " (would be rewritten)"):")
            for p in s.damagedPaths { stdout("  damaged: \(p)") }
        }
        if r.fetched > 0 { stdout("\(r.fetched) blob(s) \(dryRun ? "available" : "copied") from \(from ?? "")") }
        stdout("\(r.rewritten.count) snapshot(s) \(dryRun ? "to rewrite" : "rewritten"), \(r.intact) intact")
    }
}
