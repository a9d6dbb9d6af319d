import ArgumentParser
import CairnEngine
import CairnRepository

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify the repository.",
        discussion: "Exit 0 healthy, 1 damaged or could not check.")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .customLong("read-data"), help: "Read every pack: check SHA-256 names and every blob.") var readData = false

    func run() throws {
        let repo = try global.open()
        let lock = try repo.acquireLock(exclusive: false, operation: "check")
        defer { lock.release() }
        let progress = OperationProgress()
        if readData, global.showProgress { progress.update { $0.totalBytes = (try? repo.backend.list(.pack).reduce(0) { $0 + $1.size }) ?? nil } }
        let line = ProgressLine(progress, verb: "check", enabled: global.showProgress)
        let report: CheckReport
        do { report = try Checker(repository: repo, progress: progress).run(readData: readData) }
        catch RepositoryError.interrupted { line.stop(); throw ExitWith(code: .interrupted) }
        line.stop()
        if global.json { try global.emit(json: report) } else {
            for h in report.hints { stdout("note: \(h)") }
            for d in report.damage { stdout("error: \(d.kind) \(d.id): \(d.message)") }
            if !report.affected.isEmpty {
                stdout("\naffected snapshots and paths (will not restore completely):")
                for a in report.affected { stdout("  snapshot \(a.snapshot.prefix(8)): \(a.path) (\(a.blobs.count) blob(s))") }
            }
            stdout("checked \(report.snapshots) snapshots, \(report.trees) trees, \(report.packsChecked) packs"
                   + (readData ? ", \(report.blobsChecked) blobs, \(formatBytes(report.bytesRead)) read" : ""))
            stdout(report.healthy ? "no errors were found" : "the repository is damaged: \(report.damage.count) error(s)")
        }
        if !report.healthy { throw ExitWith(code: .fatal) }
    }
}

struct Unlock: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove stale locks (or all with --remove-all).")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .customLong("remove-all"), help: "Remove every lock, live or not.") var removeAll = false

    func run() throws {
        let repo = try global.open()
        let n = try repo.removeLocks(all: removeAll)
        if !global.quiet { stdout("removed \(n) lock(s)") }
    }
}
