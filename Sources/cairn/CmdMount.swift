import ArgumentParser
import CairnCore
import CairnCheck
import CairnMount
import CairnRepository
#if canImport(Glibc)
import Glibc
#endif

struct Mount: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the snapshots as a read-only folder tree (FUSE) until Ctrl-C.",
        discussion: """
        DIR/ids/<id>/, DIR/snapshots/<time>/ (and latest), DIR/hosts/<host>/<time>/ (and latest), \
        DIR/tags/<tag>/<time>/ (and latest), as restic lays them out; each snapshot folder holds \
        the snapshot's files. Files are read on demand, chunk by chunk. Ctrl-C (or SIGTERM) \
        unmounts and exits 0. Holds a shared lock while mounted. Needs /dev/fuse and fuse3.
        """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The folder to mount on.") var dir: String
    @Option(name: .customLong("cache-size"), help: ArgumentHelp("Memory for chunks read through the mount (64M, 1G).", valueName: "size"))
    var cacheSize = "64M"
    @Flag(name: .customLong("allow-other"), help: "Let other users see the mount (when not root: user_allow_other in /etc/fuse.conf).")
    var allowOther = false

    func validate() throws {
        guard cacheBytes != nil else { throw ValidationError("--cache-size \(cacheSize): give a size (64M, 1G)") }
    }

    var cacheBytes: Int? { CheckOptions.parseSize(cacheSize).flatMap { Int(exactly: $0) } }

    func run() throws {
        var st = stat()
        guard stat(dir, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else { throw RepositoryError.invalidArgument("\(dir) is not a folder: mount needs an existing folder") }
        let repo = try global.open()
        let lock = try global.readLock(repo, operation: "mount")
        defer { lock?.release() }
        try repo.loadIndex()
        let view = try MountView(repository: repo, cacheBytes: cacheBytes!)
        try repo.checkCancelled()
        var options = FuseMount.Options()
        options.allowOther = allowOther
        try FuseMount.serve(view, at: dir, options: options) {
            if !global.quiet { stderr("mounted on \(dir); Ctrl-C unmounts") }
        }
        if !global.quiet { stderr("unmounted \(dir)") }
    }
}
