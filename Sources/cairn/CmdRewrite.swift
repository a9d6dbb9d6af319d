import ArgumentParser
import CairnCommands
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
        var c = RewriteCommand()
        c.options.excludes = try excludes.patterns
        c.options.forget = forget
        c.options.dryRun = dryRun
        c.snapshots = snapshots
        c.filter = try filters.filter
        c.prune = prune
        let r = try global.run(c)
        if global.json { try global.emit(json: r.rewrite) }
        else if !global.quiet {
            for w in r.rewrite.rewritten {
                let to = w.replacement.map { " -> " + String($0.prefix(8)) } ?? ""
                stdout("snapshot \(w.original.prefix(8))\(to): \(dryRun ? "would remove" : "removed") \(w.removedPaths.count) path(s), \(w.removedFiles) file(s), \(formatBytes(w.removedBytes))")
                for p in w.removedPaths { stdout("  - \(p)") }
            }
            let verb = dryRun ? "would be rewritten" : "rewritten"
            stdout("\(r.rewrite.rewritten.count) snapshot(s) \(verb), \(r.rewrite.unchanged) unchanged"
                   + (dryRun || prune ? "" : forget ? "; run `cairn prune` to free the data" : "; the originals stay (--forget deletes them)"))
        }
        if let p = r.prune { report(p, global) }
    }
}
