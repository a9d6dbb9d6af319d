import ArgumentParser
import CairnCommands
import CairnCheck
import CairnTree
import CairnRepository

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify the repository.",
        discussion: """
        Default: keys, index, pack headers and every snapshot's trees agree (structure). \
        --read-data reads every pack; --read-data-subset reads a slice (N/M: the same packs \
        each time, so 1/7 ... 7/7 on seven days cover everything), a random P% or a random SIZE. \
        --snapshot checks only what those snapshots need, reading each pack that holds one of \
        their blobs. Exit status: 0 healthy, 2 damaged (the report says what and which paths of \
        which snapshots), 1 could not check (10 no repository, 11 locked, 12 wrong password).
        """)
    @OptionGroup var global: GlobalOptions
    @Flag(name: .customLong("read-data"), help: "Read every pack: check SHA-256 names and every blob.") var readData = false
    @Option(name: .customLong("read-data-subset"), help: ArgumentHelp("Read a subset of packs: N/M, P% or SIZE (500M, 2G).", valueName: "subset"))
    var subset: String?
    @Option(name: .customLong("snapshot"), help: ArgumentHelp("Check only this snapshot (ID, prefix or latest; repeatable).", valueName: "id"))
    var snapshotIDs: [String] = []

    func run() throws {
        if readData && subset != nil { throw ValidationError("give --read-data or --read-data-subset, not both") }
        var options = CheckOptions(readData: readData ? .all : .none)
        if let subset { options.readData = try CheckOptions.parseSubset(subset) }
        var c = CheckCommand(options)
        c.snapshots = snapshotIDs
        let report = try global.runWithProgress(c, verb: "check")
        if global.json { try global.emit(json: report) } else { print(report, readAny: options.readData != .none || options.snapshots != nil) }
        if !report.healthy { throw ExitWith(code: .damaged) }
    }

    func print(_ report: CheckReport, readAny: Bool) {
        for h in report.hints { stdout("note: \(h)") }
        for d in report.damage { stdout("error: \(d.kind) \(d.id): \(d.message)") }
        if !report.affected.isEmpty {
            stdout("\naffected snapshots and paths (will not restore completely):")
            for a in report.affected { stdout("  snapshot \(a.snapshot.prefix(8)): \(a.path) (\(a.blobs.count) blob(s))") }
        }
        if !report.marked.isEmpty {
            stdout("\npaths marked damaged by an earlier repair (restore what was salvaged):")
            for a in report.marked { stdout("  snapshot \(a.snapshot.prefix(8)): \(a.path)") }
        }
        stdout("checked \(report.snapshots) snapshots, \(report.trees) trees, \(report.packsChecked) packs"
               + (readAny ? " (\(report.packsRead) read whole), \(report.blobsChecked) blobs, \(formatBytes(report.bytesRead)) read" : ""))
        stdout(report.healthy ? "no errors were found"
               : "the repository is damaged: \(report.damage.count) error(s); see `cairn repair --help`")
    }
}

struct Unlock: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove stale locks (or all with --remove-all).")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .customLong("remove-all"), help: "Remove every lock, live or not.") var removeAll = false

    func run() throws {
        let r = try global.run(UnlockCommand(all: removeAll))
        if global.json { try global.emit(json: r) } else if !global.quiet { stdout("removed \(r.removed) lock(s)") }
    }
}
