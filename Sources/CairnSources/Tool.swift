import CairnCore
import CairnArchive
import CairnTree
import CairnFormat
import CairnRepository
import CairnStorage
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Runs the tools (podman, docker, incus, tar). Each runs with posix_spawnp (PATH is
/// searched), its standard error inherited, so its own messages reach the user.
public enum Tool {
    /// Runs `argv` and returns its exit status; its standard output is read and dropped.
    @discardableResult
    public static func status(_ argv: [String]) throws -> Int32 {
        let p = try start(argv)
        _ = p.readAll()
        return p.wait()
    }

    /// Runs `argv`; throws unless it exits 0.
    public static func run(_ argv: [String]) throws {
        let s = try status(argv)
        guard s == 0 else { throw SourceError.commandFailed(argv, s) }
    }

    /// Runs `argv` and returns its standard output; throws unless it exits 0.
    public static func output(_ argv: [String]) throws -> [UInt8] {
        let p = try start(argv)
        let out = p.readAll()
        let s = p.wait()
        guard s == 0 else { throw SourceError.commandFailed(argv, s) }
        return out
    }

    static func start(_ argv: [String], pipeInput: Bool = false) throws -> Subprocess {
        do { return try Subprocess(argv, pipeInput: pipeInput) } catch { throw SourceError.invalid("\(error)") }
    }

    /// Backs up what `argv` writes to standard output as the source's stream snapshot (tags
    /// and path from `source`, added to `options`), through the same stream path as
    /// `backup --stdin-from-command`, so tar streams are cut at their members. When the tool
    /// exits non-zero no snapshot is saved and this throws.
    public static func backup(_ argv: [String], into repo: Repository, options: BackupOptions, source: SourceRef,
                              extraTags: [String] = []) throws -> BackupResult {
        let p = try start(argv)
        do {
            return try archiver(repo, options, source, extraTags).backup(streamNamed: source.fileName) { buf in
                try p.readOutput(buf) { status in guard status == 0 else { throw SourceError.commandFailed(argv, status) } }
            }
        } catch {
            if p.isRunning { p.terminate(); p.wait() }
            throw error
        }
    }

    /// Backs up bytes made here (incus-config's tar of JSON documents) as the source's stream.
    public static func backup(bytes: [UInt8], into repo: Repository, options: BackupOptions, source: SourceRef) throws -> BackupResult {
        var offset = 0
        return try archiver(repo, options, source, []).backup(streamNamed: source.fileName) { buf in
            let n = min(buf.count, bytes.count - offset)
            if n > 0 { bytes.withUnsafeBytes { buf.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: n) } }
            offset += n
            return n
        }
    }

    static func archiver(_ repo: Repository, _ options: BackupOptions, _ source: SourceRef, _ extraTags: [String]) -> Archiver {
        var o = options
        for t in extraTags + source.tags where !o.tags.contains(t) { o.tags.append(t) }
        o.streamPath = source.path
        return Archiver(repository: repo, options: o)
    }

    /// Runs `argv` with the stream of `node` on its standard input (written as it is read from
    /// the repository), then waits; throws unless the tool read it all and exited 0. The
    /// tool's standard output is passed on to our standard error.
    public static func feed(_ argv: [String], from repo: Repository, node: Node) throws {
        signal(SIGPIPE, SIG_IGN)   // a tool that exits early must give an error, not kill us
        let p = try start(argv, pipeInput: true)
        let out = p.output
        let drained = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            var buf = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buf.withUnsafeMutableBytes { Glibc.read(out, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { break }
                try? writeAll(2, buf[0..<n])
            }
            drained.signal()
        }
        var writeError: Error?
        do {
            try repo.dump(node) { chunk in
                guard let fd = p.input else { return }
                do { try writeAll(fd, chunk) } catch {
                    // The tool stopped reading: its exit status tells why.
                    writeError = error
                    p.closeInput()
                }
            }
        } catch {
            p.closeInput()
            p.terminate()
            drained.wait()
            p.wait()
            throw error
        }
        p.closeInput()
        drained.wait()
        let s = p.wait()
        guard s == 0 else { throw SourceError.commandFailed(argv, s) }
        if let writeError { throw SourceError.invalid("\(argv[0]) did not read the whole stream: \(writeError)") }
    }
}
