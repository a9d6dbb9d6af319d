import ArgumentParser
import CairnCommands
import CairnCore
import CairnCrypto
import CairnTree
import CairnRepository
import CairnSources
import CairnStorage
internal import CPosix
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// Exit codes (README "Exit codes").
enum ExitCode: Int32 {
    case ok = 0, fatal = 1, damaged = 2, incomplete = 3, noRepository = 10, lockFailed = 11, wrongPassword = 12, usage = 64, interrupted = 130
}

/// What SIGINT and SIGTERM cancel: every repository this process opens runs under it.
let processCancellation = CancellationToken()

/// Thrown by commands that finished but must exit non-zero (message already printed).
struct ExitWith: Error { var code: ExitCode }

@main
struct Cairn: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cairn",
        abstract: "Deduplicating, encrypted, verifiable backups.",
        version: Repository.programVersion,
        subcommands: [Init.self, BackupGroup.self, RestoreGroup.self, Snapshots.self, Ls.self, Find.self, Diff.self, Dump.self, Stats.self,
                      Check.self, Repair.self, Forget.self, Prune.self, Tag.self, Rewrite.self, Policy.self, Copy.self, Cat.self, Key.self, Unlock.self, Mount.self, Serve.self])

    static func main() {
        CryptoLibrary.keepStateUntilExit()
        // One malloc arena per worker thread would keep freed blob buffers resident in each;
        // two arenas bound the memory the pipeline holds.
        _ = mallopt(M_ARENA_MAX, 2)
        // Buffers of 512 KiB and more (the chunkers' 1 MiB read windows, the pack digest
        // buffer) are mmap'd and returned to the kernel when freed. Left to glibc's dynamic
        // threshold they move into the heap after the first free and fragment it: peak RSS
        // of a 1 GB tree backup varied 47-64 MB run to run, with this fixed threshold 45-47 MB.
        _ = mallopt(M_MMAP_THRESHOLD, 512 << 10)
        installSignalHandlers()
        let command: ParsableCommand
        do { command = try parseAsRoot(hoistGlobalOptions(Array(CommandLine.arguments.dropFirst()))) } catch { exit(withError: error) }
        do {
            var c = command
            try c.run()
            Glibc.exit(0)
        } catch let e as ExitWith {
            Glibc.exit(e.code.rawValue)
        } catch let e where e is ValidationError || e is CleanExit || e is ArgumentParser.ExitCode
                    || String(reflecting: type(of: e)).hasPrefix("ArgumentParser.") {
            exit(withError: e)   // help, usage and parse errors, printed the library's way
        } catch {
            let (code, message) = describe(error)
            try? writeAll(2, "cairn: \(message)\n".utf8)
            Glibc.exit(code.rawValue)
        }
    }

    /// restic users write `cairn -r REPO backup ...`: global options before the subcommand
    /// are moved behind it (and behind `key`'s own subcommand).
    static func hoistGlobalOptions(_ args: [String]) -> [String] {
        let withValue: Set<String> = ["-r", "--repo", "--password-file", "--password-command", "--compression", "--cache-dir",
                                       "--limit-upload", "--limit-download", "--connections", "--retries", "--timeout"]
        let flags: Set<String> = ["-q", "--quiet", "--json", "--no-cache", "--no-lock", "--allow-expensive-kdf"]
        var leading: [String] = []
        var i = 0
        while i < args.count {
            let a = args[i]
            if withValue.contains(a), i + 1 < args.count { leading += [a, args[i + 1]]; i += 2 }
            else if flags.contains(a) || withValue.contains(where: { a.hasPrefix($0 + "=") }) { leading.append(a); i += 1 }
            else { break }
        }
        guard !leading.isEmpty, i < args.count else { return args }
        var rest = Array(args[i...])
        let groups: Set<String> = ["key", "repair", "policy"]   // commands whose subcommand comes next
        let sourceGroups: Set<String> = ["backup", "restore"]   // and these, when it names one
        let sources = Set(["files"] + SourceKind.allCases.map(\.rawValue))
        let insertAt = rest.count > 1 && (groups.contains(rest[0]) && !rest[1].hasPrefix("-")
                                          || sourceGroups.contains(rest[0]) && sources.contains(rest[1])) ? 2 : 1
        rest.insert(contentsOf: leading, at: insertAt)
        return rest
    }

    /// The one place errors become exit codes.
    static func describe(_ error: Error) -> (ExitCode, String) {
        switch error {
        case RepositoryError.noRepository: return (.noRepository, "\(error)")
        case RepositoryError.wrongPassword, RepositoryError.wrongPasswordSkipped: return (.wrongPassword, "\(error)")
        case RepositoryError.locked, RepositoryError.cannotLock: return (.lockFailed, "\(error)")
        case RepositoryError.interrupted: return (.interrupted, "interrupted")
        case RepositoryError.cancelled: return (.lockFailed, "\(error)")
        case is CommandError: return (.usage, "\(error)")
        default: return (.fatal, "\(error)")
        }
    }

    static func installSignalHandlers() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig) { _ in
                if processCancellation.isCancelled { _exit(130) }   // a second Ctrl-C leaves at once
                processCancellation.cancel()
            }
        }
    }
}
