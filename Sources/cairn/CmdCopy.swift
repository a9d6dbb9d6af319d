import ArgumentParser
import CairnCommands
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
        var c = CopyCommand(from: try from.open(global))
        c.snapshots = snapshots; c.host = host; c.tag = tag
        let r: CopyCommand.Result
        do { r = try global.runWithProgress(c, verb: "copy", stepsOnStdout: !global.json) }
        catch RepositoryError.interrupted { throw ExitWith(code: .interrupted) }
        if global.json {
            struct Out: Encodable { var copied: Int; var skipped: Int; var blobs_added: Int; var bytes_stored: UInt64; var blobs_read: Int }
            try global.emit(json: Out(copied: r.copied.count, skipped: r.skipped, blobs_added: r.blobs_added, bytes_stored: r.bytes_stored, blobs_read: r.blobs_read))
        } else if !global.quiet {
            stdout("\(r.copied.count) snapshot(s) copied, \(r.skipped) already there; \(r.blobs_added) blobs added (\(formatBytes(r.bytes_stored)) stored)")
        }
        if r.unreadable > 0 { throw ExitWith(code: .incomplete) }
    }
}
