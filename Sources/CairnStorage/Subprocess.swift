#if canImport(Glibc)
import Glibc
#endif
internal import CPosix

/// A child process started with posix_spawnp (PATH is searched): its standard output on a
/// pipe, its standard input on a pipe when asked, standard error inherited, no other
/// descriptor. Used for --password-command, --stdin-from-command and the SFTP store's ssh;
/// Foundation's Process is not used so the CLI loads only FoundationEssentials.
public final class Subprocess {
    public let pid: Int32
    /// The program run (argv[0]), for messages.
    public let program: String
    /// Read end of the child's standard output.
    public let output: Int32
    /// Write end of the child's standard input (with `pipeInput`; otherwise it inherits ours);
    /// nil once `closeInput()` has closed it.
    public private(set) var input: Int32?
    private var status: Int32?

    public init(_ argv: [String], pipeInput: Bool = false) throws {
        precondition(!argv.isEmpty)
        var fds: [Int32] = [-1, -1], inFDs: [Int32] = [-1, -1]
        guard cposix_pipe_cloexec(&fds) == 0 else { throw SubprocessError("cannot create a pipe: \(String(cString: strerror(errno)))") }
        if pipeInput && cposix_pipe_cloexec(&inFDs) != 0 {
            close(fds[0]); close(fds[1])
            throw SubprocessError("cannot create a pipe: \(String(cString: strerror(errno)))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if pipeInput { posix_spawn_file_actions_adddup2(&actions, inFDs[0], 0) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)   // dup2 clears close-on-exec on fd 1
        posix_spawn_file_actions_addclosefrom_np(&actions, 3)
        let cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for p in cargs { free(p) } }
        var child: pid_t = 0
        let rc = posix_spawnp(&child, argv[0], &actions, nil, cargs, Glibc.environ)
        close(fds[1])
        if pipeInput { close(inFDs[0]) }
        guard rc == 0 else {
            close(fds[0])
            if pipeInput { close(inFDs[1]) }
            throw SubprocessError("cannot run \(argv[0]): \(String(cString: strerror(rc)))")
        }
        pid = child
        program = argv[0]
        output = fds[0]
        input = pipeInput ? inFDs[1] : nil
    }

    deinit {
        close(output)
        if let input { close(input) }
        if status == nil { kill(pid, SIGTERM); _ = wait() }
    }

    /// Everything the child writes to standard output, until it closes it.
    public func readAll() -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(output, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return out }
            out.append(contentsOf: buf[0..<n])
        }
    }

    /// Everything the child writes to standard output until it closes it, or nil when that
    /// takes longer than `timeout` seconds: the child is then killed (SIGKILL) and reaped.
    public func readAll(timeout: Double) -> [UInt8]? {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        var now = timespec(); clock_gettime(CLOCK_MONOTONIC, &now)
        let deadline = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9 + timeout
        while true {
            clock_gettime(CLOCK_MONOTONIC, &now)
            let left = deadline - (Double(now.tv_sec) + Double(now.tv_nsec) / 1e9)
            var pfd = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
            let r = left <= 0 ? 0 : poll(&pfd, 1, Int32(min(left * 1000, 1_000_000)) + 1)
            if r < 0 && errno == EINTR { continue }
            if r == 0 {
                // The child and whatever it started (`sh -c` forks its command): a grandchild
                // left running would keep our standard error open for whoever reads it.
                for p in [pid] + Self.descendants(of: pid) { kill(p, SIGKILL) }
                wait()
                return nil
            }
            let n = buf.withUnsafeMutableBytes { Glibc.read(output, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return out }
            out.append(contentsOf: buf[0..<n])
        }
    }

    /// Every process below `pid` (Linux: /proc/PID/task/TID/children), nearest first.
    static func descendants(of pid: Int32) -> [Int32] {
        var out: [Int32] = [], queue = [pid]
        while let p = queue.popLast(), out.count < 4096 {
            guard let dir = opendir("/proc/\(p)/task") else { continue }
            while let e = readdir(dir) {
                let tid = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                guard Int32(tid) != nil, let f = fopen("/proc/\(p)/task/\(tid)/children", "r") else { continue }
                var buf = [CChar](repeating: 0, count: 4096)
                var text = ""
                while fgets(&buf, 4096, f) != nil { text += String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
                fclose(f)
                for c in text.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap({ Int32($0) }) {
                    out.append(c); queue.append(c)
                }
            }
            closedir(dir)
        }
        return out
    }

    /// Reads the child's standard output into `buf` (EINTR retried); 0 at its end, after
    /// waiting for the child and passing its status to `exited`, which may throw to veto what
    /// was read (a tool that failed halfway).
    public func readOutput(_ buf: UnsafeMutableRawBufferPointer, exited: (Int32) throws -> Void) throws -> Int {
        while true {
            let n = Glibc.read(output, buf.baseAddress, buf.count)
            if n > 0 { return n }
            if n == 0 { try exited(wait()); return 0 }
            if errno != EINTR { throw SubprocessError("reading the output of \(program): \(String(cString: strerror(errno)))") }
        }
    }

    /// Waits for the child; its exit status, or 128 + the signal that ended it.
    @discardableResult
    public func wait() -> Int32 {
        if let status { return status }
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
        let low = raw & 0x7f
        let s = low == 0 ? (raw >> 8) & 0xff : 128 + low
        status = s
        return s
    }

    public var isRunning: Bool { status == nil }

    /// Closes the child's standard input (it sees end of file).
    public func closeInput() {
        if let input { close(input) }
        input = nil
    }

    public func terminate() { if status == nil { kill(pid, SIGTERM) } }
}

public struct SubprocessError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// Writes all of `bytes` to a file descriptor (retrying short writes and EINTR); throws
/// when the descriptor refuses them (a full disk behind `dump > file`, say).
public func writeAll(_ fd: Int32, _ bytes: some Collection<UInt8>) throws {
    let array = Array(bytes)
    try array.withUnsafeBytes { b in
        var done = 0
        while done < b.count {
            let n = Glibc.write(fd, b.baseAddress! + done, b.count - done)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw SubprocessError("cannot write to \(fd == 1 ? "standard output" : "descriptor \(fd)"): \(String(cString: strerror(n < 0 ? errno : EIO)))") }
            done += n
        }
    }
}
