import ArgumentParser
import CairnCommands
import CairnCompression
import CairnCore
import CairnBrowse
import CairnRestore
import CairnTree
import CairnFormat
import CairnRepository
import CairnStorage
import CairnStores
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// Bytes moved by every store this process opened (each gets its own rate limits, and this
/// meter): what the progress line shows.
let transferMeter = TransferMeter()

/// Options every repository command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: [.short, .customLong("repo")], help: ArgumentHelp("Repository: a folder, local:PATH, or rest:http(s)://[USER:PASS@]HOST:PORT/PATH/.", valueName: "location"))
    var repo: String?

    @Option(name: .customLong("password-file"), help: "Read the password from this file's first line.")
    var passwordFile: String?

    @Option(name: .customLong("password-command"), help: "Run this shell command and use its output as the password.")
    var passwordCommand: String?

    @Flag(name: [.short, .long], help: "No progress output.")
    var quiet = false

    @Flag(help: "Machine-readable output (JSON) where supported.")
    var json = false

    @Flag(name: .customLong("no-cache"), help: "Do not use the local cache.")
    var noCache = false

    @Flag(name: .customLong("allow-expensive-kdf"), help: "Also try key files whose scrypt cost is above the ceiling (N·r·p ≤ 2^22; or CAIRN_ALLOW_EXPENSIVE_KDF=1).")
    var allowExpensiveKDFFlag = false

    var allowExpensiveKDF: Bool {
        allowExpensiveKDFFlag || ["1", "true", "yes"].contains(ProcessInfo.processInfo.environment["CAIRN_ALLOW_EXPENSIVE_KDF"]?.lowercased() ?? "")
    }

    @Flag(name: .customLong("no-lock"), help: "Take no lock (read-only commands only: for a repository on read-only storage).")
    var noLock = false

    @Option(name: .customLong("cache-dir"), help: ArgumentHelp("Cache folder (default $XDG_CACHE_HOME/cairn or ~/.cache/cairn).", valueName: "path"))
    var cacheDir: String?

    @Option(help: ArgumentHelp("Compression for new blobs: auto|off|fastest|max (default: the repository's).", valueName: "mode"))
    var compression: CompressionMode?

    @Option(name: .customLong("limit-upload"), help: ArgumentHelp("Limit uploads to this many KiB/s.", valueName: "KiB/s"))
    var limitUpload: Int?

    @Option(name: .customLong("limit-download"), help: ArgumentHelp("Limit downloads to this many KiB/s.", valueName: "KiB/s"))
    var limitDownload: Int?

    @Option(help: ArgumentHelp("Retries of a failed request to a remote store, with exponential backoff (default 9: about a minute).", valueName: "n"))
    var retries: Int?

    @Option(help: ArgumentHelp("Time limit of one request to an HTTP store, in seconds (default 120).", valueName: "seconds"))
    var timeout: Int?

    @Option(help: ArgumentHelp("Packs sent to the store at once (default 1; more helps on high-latency links, and an interrupted run may re-send one pack per connection).", valueName: "n"))
    var connections: Int?

    func validate() throws {
        if let c = connections, !(1...64).contains(c) { throw ValidationError("--connections must be between 1 and 64") }
        if let r = retries, !(0...100).contains(r) { throw ValidationError("--retries must be between 0 and 100") }
        if let t = timeout, t < 1 { throw ValidationError("--timeout must be at least 1 second") }
        if (limitUpload ?? 0) < 0 || (limitDownload ?? 0) < 0 { throw ValidationError("--limit-upload and --limit-download take KiB/s, 0 or more") }
    }

    var location: String {
        get throws {
            guard let r = repo ?? ProcessInfo.processInfo.environment["CAIRN_REPOSITORY"], !r.isEmpty else {
                throw ValidationError("no repository given: use -r PATH or set CAIRN_REPOSITORY")
            }
            return r
        }
    }

    var backend: any Backend {
        get throws {
            var t = TransferSettings()
            if let retries { t.retries = retries }
            if let timeout { t.timeoutSeconds = timeout }
            t.limitUploadKiB = limitUpload
            t.limitDownloadKiB = limitDownload
            t.meter = transferMeter
            return try StoreRegistry.standard.open(try location, transfer: t, environment: ProcessInfo.processInfo.environment)
        }
    }

    func password(confirm: Bool = false, prompt: String = "enter password for repository: ") throws -> [UInt8] {
        try Password.read(file: passwordFile, command: passwordCommand, confirm: confirm, prompt: prompt)
    }

    /// Opens the repository; `readPassword` replaces the usual password sources (copy's source).
    func open(readPassword: (() throws -> [UInt8])? = nil) throws -> Repository {
        let backend = try backend
        // Only a missing config means "no repository": a refused request (wrong S3 key) says so.
        do { _ = try backend.stat(.config, "config") } catch StorageError.notFound { throw RepositoryError.noRepository(backend.location) }
        let cacheFolder = noCache ? nil : cacheDir ?? Cache.defaultFolder()
        let lastKey = cacheFolder.map { LastKey(cacheFolder: $0) }
        var keys = Repository.KeySelection()
        keys.allowExpensiveKDF = allowExpensiveKDF
        if let lastKey { keys.lastUsed = { digest in lastKey.name(for: digest) } }
        keys.warn = { stderr("warning: \($0)") }
        let r = try Repository.open(backend: backend, password: try readPassword?() ?? password(), compression: compression,
                                    connections: connections ?? StoreRegistry.defaultConnections(backend), keys: keys,
                                    cancellation: processCancellation)
        lastKey?.remember(r.keyName, for: r.configDigest)
        if let folder = cacheFolder {
            do { try r.attachCache(folder: folder) } catch { if !quiet { stderr("warning: cache disabled: \(error)") } }
        }
        return r
    }

    /// The shared lock of a command that only reads the repository; none with --no-lock.
    func readLock(_ repo: Repository, operation: String) throws -> RepositoryLock? {
        noLock ? nil : try repo.acquireLock(exclusive: false, operation: operation)
    }

    var showProgress: Bool { !quiet && !json && isatty(2) == 1 }

    /// How a library command's events reach the terminal: warnings always, steps unless
    /// --quiet (`stepsAlways`: flows whose steps are the record of what was changed).
    /// `stepsOnStdout`: steps are the command's own report (tag's one line per snapshot).
    func context(progress: OperationProgress = OperationProgress(), stepsAlways: Bool = false, stepsOnStdout: Bool = false) -> CommandContext {
        let quiet = quiet
        return CommandContext(events: { e in
            switch e {
            case .warning(let s): stderr("warning: \(s)")
            case .step(let s):
                if stepsOnStdout { if !quiet { stdout(s) } } else if !quiet || stepsAlways { stderr(s) }
            }
        }, progress: progress, noLock: noLock)
    }

    /// Opens the repository and runs a library command on it under the lock it needs.
    func run<C: RepositoryCommand>(_ command: C, stepsAlways: Bool = false, stepsOnStdout: Bool = false,
                                   readPassword: (() throws -> [UInt8])? = nil) throws -> C.Result {
        try command.execute(try open(readPassword: readPassword), context(stepsAlways: stepsAlways, stepsOnStdout: stepsOnStdout))
    }

    /// `run`, with the live progress line on a terminal.
    func runWithProgress<C: RepositoryCommand>(_ command: C, verb: String, stepsOnStdout: Bool = false) throws -> C.Result {
        let repo = try open()
        let progress = OperationProgress()
        let line = ProgressLine(progress, verb: verb, enabled: showProgress)
        defer { line.stop() }
        return try command.execute(repo, context(progress: progress, stepsOnStdout: stepsOnStdout))
    }

    func emit(json value: some Encodable) throws {
        let e = JSONEncoder(); e.outputFormatting = [.sortedKeys, .prettyPrinted]
        try writeAll(1, try e.encode(value) + [10])
    }
}

/// One compact JSON object on its own line (the streamed `--json` of diff).
func emitLine(json value: some Encodable) throws {
    let e = JSONEncoder(); e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    try writeAll(1, try e.encode(value) + [10])
}

/// Snapshot filters shared by commands that pick snapshots.
struct FilterOptions: ParsableArguments {
    @Option(name: .customLong("host"), help: "Only snapshots of this host (repeatable).")
    var hosts: [String] = []
    @Option(name: .customLong("tag"), help: "Only snapshots with this tag (a,b = both; repeatable = either).")
    var tags: [String] = []
    @Option(name: .customLong("path"), help: "Only snapshots that include this path (repeatable).")
    var paths: [String] = []
    @Option(help: ArgumentHelp("With latest: the newest snapshot at or before this time (2026-11-21 14:00, RFC 3339).", valueName: "time"))
    var before: String?
    @Flag(name: .customLong("skip-unreadable"), help: "Leave out snapshot files that cannot be read (default: refuse, as one may be the snapshot meant).")
    var skipUnreadable = false

    var filter: SnapshotFilter {
        get throws {
            var f = SnapshotFilter()
            f.hosts = hosts; f.tags = tags; f.paths = paths
            if skipUnreadable { f.skipUnreadable = { id, e in stderr("warning: snapshot \(id.short) cannot be read (left out): \(e)") } }
            if let before {
                guard let t = Timestamp.parse(before) else { throw ValidationError("cannot read time \(before): use 2026-11-21 14:00 or RFC 3339") }
                f.before = t
            }
            return f
        }
    }
}

func stderr(_ s: String) { try? writeAll(2, (s + "\n").utf8) }
func stdout(_ s: String) { try? writeAll(1, (s + "\n").utf8) }

func formatBytes(_ n: UInt64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var v = Double(n), i = 0
    while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
    return i == 0 ? "\(n) B" : fixed(v, 2) + " " + units[i]
}

func formatDuration(_ s: Double) -> String {
    let t = Int(s.rounded())
    return t >= 3600 ? "\(t / 3600):\(pad2(t / 60 % 60)):\(pad2(t % 60))" : "\(t / 60):\(pad2(t % 60))"
}

extension CompressionMode: ExpressibleByArgument {}
extension OverwritePolicy: ExpressibleByArgument {}
extension StatsMode: ExpressibleByArgument {}

/// `v` with `digits` decimals, rounded half away from zero (what printf's %.Nf gives for
/// the values printed here), without Foundation's String(format:).
func fixed(_ v: Double, _ digits: Int) -> String {
    guard v.isFinite else { return "\(v)" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let r = (abs(v) * scale).rounded()
    let whole = (r / scale).rounded(.down)
    var frac = String(Int(r - whole * scale))
    while frac.count < digits { frac = "0" + frac }
    return (v < 0 && r != 0 ? "-" : "") + String(Int(whole)) + (digits > 0 ? "." + frac : "")
}

func pad2(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    var trimmed: String { String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed()) }
}

/// `--exclude` and `--exclude-file` (backup, rewrite): restic's pattern rules (README "Excludes").
struct ExcludeOptions: ParsableArguments {
    @Option(name: [.short, .long], help: "Exclude a pattern (repeatable).") var exclude: [String] = []
    @Option(name: .customLong("exclude-file"), help: "Read exclude patterns from a file (one per line, # comments).") var excludeFile: [String] = []

    var patterns: [String] {
        get throws {
            var out = exclude
            for f in excludeFile {
                guard let text = try? String(contentsOfFile: f, encoding: .utf8) else { throw ValidationError("cannot read exclude file \(f)") }
                out += text.split(whereSeparator: \.isNewline).map { $0.trimmed }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
            }
            return out
        }
    }
}
