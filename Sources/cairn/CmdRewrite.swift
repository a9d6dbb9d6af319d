import ArgumentParser
import CairnCore
import CairnMaintenance
import CairnFormat
import CairnRepository

struct Rewrite: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove paths from existing snapshots (restic's rewrite), e.g. a secret backed up by mistake.",
        discussion: """
        Each snapshot holding a path the --exclude patterns match is saved anew without it: \
        same time, host, paths and tags, plus the tag `rewrite`, and `original` naming the old \
        snapshot. With --forget the old snapshot is deleted once the new one is saved (and no \
        `rewrite` tag is added). The data stays in the repository until prune: give --prune \
        (with --forget) to free it in the same run: it repacks with --max-unused 0%, so no \
        byte of a removed file stays in a pack. Without SNAPSHOT arguments, every snapshot \
        the filters (--host, --tag, --path) match is rewritten. Paths inside a tar stream's \
        members cannot be removed this way; only whole tree entries.
        """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var filters: FilterOptions
    @OptionGroup var excludes: ExcludeOptions
    @Flag(help: "Delete each original snapshot once its replacement is saved.") var forget = false
    @Flag(help: "Run prune with --max-unused 0% afterwards, under the same lock, so no byte of the removed files stays; needs --forget.") var prune = false
    @Flag(name: [.customShort("n"), .customLong("dry-run")], help: "Only show what would be removed.") var dryRun = false
    @Argument(help: "Snapshots to rewrite (IDs, prefixes or `latest`; default: all the filters match).") var snapshots: [String] = []

    func validate() throws {
        if excludes.exclude.isEmpty && excludes.excludeFile.isEmpty { throw ValidationError("nothing to remove: give --exclude or --exclude-file") }
        if prune && !forget { throw ValidationError("--prune frees nothing while the originals stay: add --forget") }
        if prune && dryRun { throw ValidationError("--prune with --dry-run: run `cairn prune --dry-run` afterwards instead") }
    }

    func run() throws {
        var options = RewriteOptions()
        options.excludes = try excludes.patterns
        options.forget = forget
        options.dryRun = dryRun
        let repo = try global.open()
        let lock = try global.writeLock(repo, exclusive: !dryRun, operation: dryRun ? "rewrite --dry-run" : "rewrite")
        defer { lock.release() }
        try repo.loadIndex()
        let f = try filters.filter
        let (all, targets) = try selectSnapshots(repo, named: snapshots, filter: f)
        let r: RewriteResult
        do { r = try repo.rewriteSnapshots(targets, options: options, existing: all) }
        catch RepositoryError.interrupted { throw ExitWith(code: .interrupted) }
        if global.json { try global.emit(json: r) }
        else if !global.quiet {
            for w in r.rewritten {
                let to = w.replacement.map { " -> " + String($0.prefix(8)) } ?? ""
                stdout("snapshot \(w.original.prefix(8))\(to): \(dryRun ? "would remove" : "removed") \(w.removedPaths.count) path(s), \(w.removedFiles) file(s), \(formatBytes(w.removedBytes))")
                for p in w.removedPaths { stdout("  - \(p)") }
            }
            let verb = dryRun ? "would be rewritten" : "rewritten"
            stdout("\(r.rewritten.count) snapshot(s) \(verb), \(r.unchanged) unchanged"
                   + (dryRun || prune ? "" : forget ? "; run `cairn prune` to free the data" : "; the originals stay (--forget deletes them)"))
        }
        if prune {
            // 0%: every pack holding a removed blob is repacked, so the data is really gone
            // (with the usual 5% a small secret could stay in a pack prune leaves alone).
            let p = try CairnMaintenance.prune(repo, options: PruneOptions(maxUnused: .percent(0)))
            report(p, global)
        }
    }
}
