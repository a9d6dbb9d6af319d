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
            let p = try Subprocess(["/bin/sh", "-c", c])
            let data = p.readAll()
            let status = p.wait()
            guard status == 0 else { throw ValidationError("password command exited with status \(status)") }
            return firstLine(data)
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
