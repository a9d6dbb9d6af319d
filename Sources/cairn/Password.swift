import ArgumentParser
import CairnStorage
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// Where the password comes from, in order: CAIRN_PASSWORD, --password-file /
/// CAIRN_PASSWORD_FILE, --password-command / CAIRN_PASSWORD_COMMAND, a prompt on the terminal.
enum Password {
    /// `envPrefix` is CAIRN_ for the repository, CAIRN_FROM_ for the source of `copy`.
    static func read(file: String?, command: String?, confirm: Bool, prompt: String, envPrefix: String = "CAIRN_") throws -> [UInt8] {
        let env = ProcessInfo.processInfo.environment
        if let p = env[envPrefix + "PASSWORD"], !p.isEmpty { return Array(p.utf8) }
        if let f = file ?? env[envPrefix + "PASSWORD_FILE"] {
            guard let d = FileManager.default.contents(atPath: f) else { throw ValidationError("cannot read password file \(f)") }
            return firstLine(Array(d))
        }
        if let c = command ?? env[envPrefix + "PASSWORD_COMMAND"] {
            return try run(command: c, timeout: commandTimeout(env[envPrefix + "PASSWORD_COMMAND_TIMEOUT"]))
        }
        guard isatty(0) == 1 || FileManager.default.isReadableFile(atPath: "/dev/tty") else {
            throw ValidationError("no password: set CAIRN_PASSWORD, CAIRN_PASSWORD_FILE or use --password-file / --password-command")
        }
        let p = try promptTTY(prompt)
        if confirm {
            let again = try promptTTY("enter password again: ")
            guard again == p else { throw ValidationError("passwords do not match") }
            guard !p.isEmpty else { throw ValidationError("an empty password is not allowed") }
        }
        return p
    }

    /// Seconds a password command may take (CAIRN_PASSWORD_COMMAND_TIMEOUT, default 60).
    static let defaultCommandTimeout = 60.0

    static func commandTimeout(_ value: String?) throws -> Double {
        guard let value, !value.isEmpty else { return defaultCommandTimeout }
        guard let t = Double(value), t > 0, t.isFinite else {
            throw PasswordError("password command timeout \"\(value)\" is not a positive number of seconds")
        }
        return t
    }

    /// The first line a shell command prints; its standard error goes to ours.
    static func run(command c: String, timeout: Double) throws -> [UInt8] {
        let p: Subprocess
        do { p = try Subprocess(["/bin/sh", "-c", c]) }
        catch { throw PasswordError("cannot run the password command `\(c)`: \(error)") }
        guard let data = p.readAll(timeout: timeout) else {
            throw PasswordError("the password command `\(c)` did not finish within \(fixed(timeout, timeout == timeout.rounded() ? 0 : 1)) s "
                                + "(killed; set CAIRN_PASSWORD_COMMAND_TIMEOUT to allow longer)")
        }
        let status = p.wait()
        guard status == 0 else {
            throw PasswordError("the password command `\(c)` failed with exit status \(status) (its error output, if any, is above): no password was read")
        }
        return firstLine(data)
    }

    static func firstLine(_ b: [UInt8]) -> [UInt8] {
        Array(b.prefix { $0 != 10 && $0 != 13 })
    }

    /// Reads a line from the terminal with echo off.
    static func promptTTY(_ prompt: String) throws -> [UInt8] {
        let fd = open("/dev/tty", O_RDWR)
        guard fd >= 0 else { throw ValidationError("no terminal to ask for a password: set CAIRN_PASSWORD or use --password-file") }
        defer { close(fd) }
        _ = prompt.withCString { write(fd, $0, strlen($0)) }
        var old = termios()
        tcgetattr(fd, &old)
        var noEcho = old
        noEcho.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(fd, TCSAFLUSH, &noEcho)
        defer { tcsetattr(fd, TCSAFLUSH, &old); _ = write(fd, "\n", 1) }
        var out: [UInt8] = []
        var c: UInt8 = 0
        while Glibc.read(fd, &c, 1) == 1 && c != 10 { out.append(c) }
        return out
    }
}

/// A password source that failed (exit 1 with its message, no usage banner).
struct PasswordError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
