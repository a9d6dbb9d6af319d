import ArgumentParser
import CairnCommands
import CairnCheck
import CairnMaintenance
import CairnRepository

struct Prune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete packs no snapshot needs and repack partly used ones.",
        discussion: """
        Marks every blob the snapshots use, deletes packs that hold none, and repacks the \
        emptiest partly used packs until the unused bytes left are within --max-unused. New \
        packs and index files are written before anything is deleted, so an interrupted prune \
        is simply run again. Holds an exclusive lock: it refuses to start while a backup, \
        restore or check holds a lock, and they refuse while it runs.
        """)
    @OptionGroup var global: GlobalOptions
    @Option(name: .customLong("max-unused"), help: ArgumentHelp("Unused space to tolerate: a share of the repository (5%), a size (500M) or unlimited.", valueName: "limit"))
    var maxUnused = "5%"
    @Option(name: .customLong("max-repack-size"), help: ArgumentHelp("Repack at most this many bytes of packs (500M, 2G).", valueName: "size"))
    var maxRepackSize: String?
    @Flag(name: .customLong("repack-small"), help: "Also merge packs below 80% of the target pack size (two or more of a blob type).") var repackSmall = false
    @Flag(name: .customLong("dry-run"), help: "Only show what would be deleted, repacked and kept.") var dryRun = false

    func run() throws {
        var options = PruneOptions(dryRun: dryRun, repackSmall: repackSmall)
        do { options.maxUnused = try PruneOptions.parseMaxUnused(maxUnused) }
        catch { throw ValidationError("\(error)") }
        if let maxRepackSize {
            guard let s = CheckOptions.parseSize(maxRepackSize) else { throw ValidationError("--max-repack-size \(maxRepackSize): give a size (500M, 2G)") }
            options.maxRepackSize = s
        }
        let r = try global.runWithProgress(PruneCommand(options), verb: "prune")
        report(r, global)
    }
}

/// What prune did (or would do), for `prune` and `forget --prune`.
func report(_ r: PruneResult, _ global: GlobalOptions) {
        if global.json { try? global.emit(json: r); return }
        let p = r.plan
        let verb = r.dryRun ? "would" : "did"
        stdout("\(p.snapshots) snapshot(s); \(p.packs) pack(s), \(formatBytes(p.packBytes)); blobs used \(formatBytes(p.usedBytes)), unused \(formatBytes(p.unusedBytes))\(p.duplicateBlobs > 0 ? " (\(p.duplicateBlobs) duplicate blob(s))" : "")")
        if p.unindexedPacks > 0 { stdout("\(p.unindexedPacks) pack(s) in no index were read from their headers") }
        if p.missingPacks > 0 { stdout("\(p.missingPacks) pack(s) listed in the index are missing from the store and are dropped from it") }
        for u in p.garbagePacks { stdout("pack \(u.prefix(16)): in no index, its header does not open and its bytes do not match its name; \(verb == "did" ? "deleted" : "to delete")") }
        for u in p.unreadablePacks { stdout("pack \(u.prefix(16)): in no index and its header does not open; left alone (run `cairn check --read-data`)") }
        stdout("\(verb == "did" ? "deleted" : "to delete"): \(p.packsToDelete) pack(s), \(formatBytes(p.bytesToDelete))")
        stdout("\(verb == "did" ? "repacked" : "to repack"): \(p.packsToRepack) pack(s), \(formatBytes(p.bytesToRepack)) (\(p.blobsToCopy) blob(s), \(formatBytes(p.bytesToCopy)) copied\(r.dryRun ? "" : " into \(r.packsWritten) new pack(s)"))")
        stdout("\(verb == "did" ? "kept" : "to keep"): \(p.packsToKeep) pack(s), \(formatBytes(p.bytesToKeep))")
        stdout("unused after prune: \(formatBytes(p.unusedAfter)) (\(fixed(p.unusedShareAfter * 100, 1))% of blob bytes)")
        if !r.dryRun {
            let removed = p.bytesToDelete + p.bytesToRepack
            stdout("freed \(formatBytes(removed >= r.bytesWritten ? removed - r.bytesWritten : 0)) in \(fixed(r.durationSeconds, 1)) s")
        }
}
