import ArgumentParser
import CairnCore
import CairnMaintenance
import CairnTree
import CairnFormat
import CairnRepository
import CairnStorage
import FoundationEssentials

/// The repository `copy` reads from (and `init --copy-chunker-params` takes keys from).
struct FromRepository: ParsableArguments {
    @Option(name: .customLong("from-repo"), help: ArgumentHelp("Source repository (or CAIRN_FROM_REPOSITORY).", valueName: "location"))
    var fromRepo: String?
    @Option(name: .customLong("from-password-file"), help: "Read the source repository's password from this file (or CAIRN_FROM_PASSWORD, CAIRN_FROM_PASSWORD_FILE).")
    var fromPasswordFile: String?
    @Option(name: .customLong("from-password-command"), help: "Run this shell command for the source repository's password (or CAIRN_FROM_PASSWORD_COMMAND).")
    var fromPasswordCommand: String?

    var environmentRepository: String? {
        ProcessInfo.processInfo.environment["CAIRN_FROM_REPOSITORY"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Opens the source with the same transfer settings and cache folder as the destination.
    func open(_ global: GlobalOptions) throws -> Repository {
        guard let location = fromRepo ?? environmentRepository else { throw ValidationError("no source repository: use --from-repo or set CAIRN_FROM_REPOSITORY") }
        var g = global
        g.repo = location
        return try g.open {
            try Password.read(file: fromPasswordFile, command: fromPasswordCommand, confirm: false,
                              prompt: "enter password for source repository: ", envPrefix: "CAIRN_FROM_")
        }
    }
}

struct Copy: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy snapshots from another repository into this one.",
        discussion: """
            Sends only blobs this repository lacks. Snapshots already copied (recorded in each \
            copy's `original`) are skipped, so running it again copies only new snapshots, and \
            a copy cut short continues where it stopped. With different ID keys every data blob \
            of a new snapshot is read from the source once; create the destination with \
            `init --copy-chunker-params --from-repo SRC` to avoid that.
            """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var from: FromRepository
    @Argument(help: "Snapshots to copy (default: all).") var snapshots: [String] = []
    @Option(help: "Only snapshots of this host.") var host: String?
    @Option(help: "Only snapshots with this tag.") var tag: String?

    func run() throws {
        let source = try from.open(global)
        let destination = try global.open()
        guard source.id != destination.id else { throw ValidationError("source and destination are the same repository") }
        let sourceLock = try global.writeLock(source, exclusive: false, operation: "copy (source)")
        defer { sourceLock.release() }
        let lock = try global.writeLock(destination, exclusive: false, operation: "copy")
        defer { lock.release() }
        try source.loadIndex()
        try destination.loadIndex()
        let adopted = try destination.indexUnindexedPacks()
        if adopted.fromJournal + adopted.fromHeaders > 0 && !global.quiet {
            stderr("reusing \(adopted.fromJournal + adopted.fromHeaders) pack(s) left by an interrupted run")
        }

        var chosen: [(ID, Snapshot)]
        var unreadable = 0
        if snapshots.isEmpty {
            let (all, bad) = try source.snapshots()
            for (id, e) in bad { stderr("warning: snapshot \(id.short) of the source cannot be read (not copied): \(e)") }
            unreadable = bad.count
            chosen = all
        } else {
            chosen = try snapshots.map { try source.resolveSnapshot($0) }
        }
        chosen = chosen.filter { s in (host == nil || s.1.hostname == host) && (tag == nil || s.1.tags.contains(tag!)) }

        let progress = OperationProgress()
        let line = ProgressLine(progress, verb: "copy", enabled: global.showProgress)
        let copier = Copier(from: source, to: destination, progress: progress)
        let done = try copier.alreadyCopied()
        var copied = 0, skipped = 0
        do {
            for (id, snap) in chosen {
                let original = snap.original.flatMap { ID(hex: $0) } ?? id
                if done.contains(original) || done.contains(id) { skipped += 1; continue }
                let new = try copier.copy(id, snap)
                copied += 1
                if !global.quiet && !global.json { stdout("snapshot \(id.short) of \(snap.time) copied as \(new.short)") }
            }
        } catch RepositoryError.interrupted {
            line.stop()
            try? destination.flush()
            stderr("interrupted: \(copied) snapshot(s) copied; the next copy continues with the rest and reuses what was sent")
            throw ExitWith(code: .interrupted)
        }
        line.stop()
        let s = destination.writeStats
        if global.json {
            struct Out: Encodable { var copied: Int; var skipped: Int; var blobs_added: Int; var bytes_stored: UInt64; var blobs_read: Int }
            try global.emit(json: Out(copied: copied, skipped: skipped, blobs_added: s.blobsAdded[0] + s.blobsAdded[1],
                                      bytes_stored: s.storedBytesAdded, blobs_read: copier.blobsRead))
        } else if !global.quiet {
            stdout("\(copied) snapshot(s) copied, \(skipped) already there; \(s.blobsAdded[0] + s.blobsAdded[1]) blobs added (\(formatBytes(s.storedBytesAdded)) stored)")
        }
        if unreadable > 0 { throw ExitWith(code: .incomplete) }
    }
}
