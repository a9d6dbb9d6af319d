import CPosix
import CairnCore
@testable import CairnRestore
@testable import CairnTree
import CairnFormat
import CairnRepository
import CairnStorage
import Foundation
import Testing

/// Restoring snapshots from a damaged or hostile repository: whatever its trees say, nothing is
/// created or changed outside the target, every bad entry gets a warning, and the good entries
/// beside it are restored.
///
/// Layout of each sandbox (the target is three levels down, so "..", "../.." and symlinks to
/// the decoy all land in watched places):
///
///     <tmp>/repo                      the repository (not watched)
///     <tmp>/sandbox/decoy/secret.txt  a folder beside the target, with a file and a subfolder
///     <tmp>/sandbox/outside.txt       a file symlinks point at
///     <tmp>/sandbox/l1/l2/target      the restore target (created before the "before" listing)
@Suite struct HostileRestoreTests {
    final class Sandbox {
        let tmp = TempDir()
        let repo: Repository
        var root: String { tmp.sub("sandbox") }
        var target: String { root + "/l1/l2/target" }
        var decoy: String { root + "/decoy" }
        var outside: String { root + "/outside.txt" }
        var payload: ID!

        init() throws {
            repo = try Fixtures.newRepository(tmp)
            Fixtures.write(decoy + "/secret.txt", Array("secret".utf8))
            Fixtures.write(decoy + "/sub/inner.txt", Array("inner".utf8))
            Fixtures.write(outside, Array("outside".utf8))
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
            payload = try repo.saveBlob(.data, Array("pwned".utf8)).id
        }

        // MARK: building hostile trees

        func file(_ name: [UInt8], _ content: [UInt8]? = nil, links: UInt32 = 1, inode: UInt64 = 0) throws -> Node {
            let id = try content.map { try repo.saveBlob(.data, $0).id } ?? payload!
            let size = UInt64(content?.count ?? 5)
            return Node(name: name, type: .file, mode: 0o644, mtime: 1_700_000_000_000_000_000, size: size,
                        inode: inode, device: 42, links: links, content: .chunks([id]))
        }
        func file(_ name: String, _ content: String? = nil, links: UInt32 = 1, inode: UInt64 = 0) throws -> Node {
            try file(Array(name.utf8), content.map { Array($0.utf8) }, links: links, inode: inode)
        }
        func dir(_ name: [UInt8], _ nodes: [Node]) throws -> Node {
            Node(name: name, type: .directory, mode: 0o755, content: .subtree(try tree(nodes)))
        }
        func dir(_ name: String, _ nodes: [Node]) throws -> Node { try dir(Array(name.utf8), nodes) }
        func symlink(_ name: String, _ to: String) -> Node {
            Node(name: Array(name.utf8), type: .symlink, mode: 0o777, size: UInt64(to.utf8.count), linkTarget: Array(to.utf8))
        }
        func tree(_ nodes: [Node]) throws -> ID {
            var t = Tree(nodes: nodes)
            t.sort()
            return try repo.saveTree(t)
        }
        func snapshot(_ nodes: [Node]) throws -> ID { try snapshot(tree: try tree(nodes)) }
        func snapshot(tree: ID) throws -> ID {
            try repo.flush()
            return try repo.saveSnapshot(Snapshot(time: .now(), tree: tree, paths: ["/hostile"], hostname: "h", username: "u",
                                                  uid: 0, gid: 0, tags: [], parent: nil, excludes: [], programVersion: "test",
                                                  summary: .init()))
        }

        // MARK: restoring and watching

        func restorer(_ mutate: (inout RestoreOptions) -> Void = { _ in }) -> Restorer {
            var o = RestoreOptions(); mutate(&o)
            return Restorer(repository: repo, options: o)
        }
        func restore(_ snap: ID, path: String = "", into: String? = nil, _ mutate: (inout RestoreOptions) -> Void = { _ in }) throws -> RestoreResult {
            let node = try repo.node(at: path, root: try repo.loadSnapshot(snap).treeID!)
            return try restorer(mutate).restore(node: node, displayPath: Array(path.utf8), target: into ?? target)
        }

        /// Every entry under <tmp> except the repository and the target: type, mode, size,
        /// mtime, link count, inode, symlink target and file content.
        func listing() -> [String: String] {
            var out: [String: String] = [:]
            func visit(_ p: String, _ rel: String) {
                var st = stat()
                guard lstat(p, &st) == 0 else { return }
                var v = "\(st.st_mode) \(st.st_size) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec) \(st.st_nlink) \(st.st_ino) \(st.st_uid)"
                switch st.st_mode & S_IFMT {
                case S_IFLNK: v += " -> " + ((try? FileManager.default.destinationOfSymbolicLink(atPath: p)) ?? "?")
                case S_IFREG: v += " " + String(decoding: Fixtures.read(p) ?? [], as: UTF8.self)
                case S_IFDIR:
                    for e in (try? FileManager.default.contentsOfDirectory(atPath: p)) ?? [] {
                        let child = p + "/" + e
                        if child == target || child == tmp.sub("repo") { continue }
                        visit(child, rel + "/" + e)
                    }
                default: break
                }
                out[rel.isEmpty ? "." : rel] = v
            }
            visit(tmp.path, "")
            return out
        }

        /// Runs `body` and checks that nothing outside the target changed.
        func watched(_ sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) rethrows {
            let before = listing()
            #expect(before["/sandbox/decoy/secret.txt"] != nil, sourceLocation: sourceLocation)
            try body()
            let after = listing()
            for k in Set(before.keys).union(after.keys) where before[k] != after[k] {
                Issue.record("changed outside the target: \(k): \(before[k] ?? "absent") → \(after[k] ?? "absent")", sourceLocation: sourceLocation)
            }
        }

        func type(_ rel: String) -> mode_t { Fixtures.lstat(target + "/" + rel).st_mode & S_IFMT }
        func read(_ rel: String) -> String? { Fixtures.read(target + "/" + rel).map { String(decoding: $0, as: UTF8.self) } }
        func exists(_ rel: String) -> Bool { var st = stat(); return lstat(target + "/" + rel, &st) == 0 }
    }

    static func has(_ r: RestoreResult, _ needle: String, count: Int = 1, _ loc: SourceLocation = #_sourceLocation) {
        let n = r.warnings.filter { $0.contains(needle) }.count
        #expect(n == count, "\(count) warning(s) containing \(needle.debugDescription) expected, got \(n): \(r.warnings)", sourceLocation: loc)
    }

    // MARK: names

    /// The unsafe names of format-spec §10.2, as files, folders and symlinks, at the root and
    /// deeper; the safe entries around them are restored.
    func hostileNames(_ s: Sandbox) throws -> ID {
        let inner = try s.dir("okdir", [
            try s.file("inner.txt", "inner"),
            try s.file("..", "pwned"),
            try s.dir("../../../decoy", [try s.file("secret.txt", "pwned")]),
        ])
        return try s.snapshot([
            try s.file("", "pwned"),
            try s.file(".", "pwned"),
            try s.dir("..", [try s.file("pwned.txt")]),
            try s.file("a/b"),
            try s.file("../x"),
            try s.file("../../outside.txt", "pwned"),
            try s.file(Array("x".utf8) + [0] + Array("y".utf8)),
            try s.file("/abs"),
            s.symlink("../../../decoy/sub", "/etc"),
            try s.file("ok", "good"),
            try s.file("odd-\u{1b}[31m-name", "odd"),
            inner,
        ])
    }

    @Test func unsafeNamesAreSkippedWithAWarning() throws {
        let s = try Sandbox()
        let snap = try hostileNames(s)
        var r = RestoreResult()
        try s.watched { r = try s.restore(snap) }
        #expect(r.warnings.count == 11, "\(r.warnings)")
        #expect(r.warnings.allSatisfy { $0.contains("unsafe name") }, "\(r.warnings)")
        Self.has(r, #"unsafe name """#)
        Self.has(r, #"unsafe name ".""#)
        Self.has(r, #"unsafe name "..""#, count: 2)
        Self.has(r, #"unsafe name "a/b""#)
        Self.has(r, #"unsafe name "x\x00y""#)
        Self.has(r, #"okdir: skipping entry with unsafe name "../../../decoy""#)
        #expect(s.read("ok") == "good")
        #expect(s.read("okdir/inner.txt") == "inner")
        // A safe name with an escape sequence is restored as is, and shown escaped.
        #expect(s.read("odd-\u{1b}[31m-name") == "odd")
        #expect(FS.shown(Array("odd-\u{1b}[31m-\\".utf8) + [0xff]) == #"odd-\x1b[31m-\x5c\xff"#)
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.target).sorted() == ["odd-\u{1b}[31m-name", "ok", "okdir"])
        #expect(r.files == 3 && r.dirs == 1)
    }

    /// --include, --exclude and a path inside the snapshot change what is restored, never
    /// whether an unsafe name is refused.
    @Test func pathsAndFiltersDoNotMatter() throws {
        let s = try Sandbox()
        let snap = try hostileNames(s)
        try s.watched {
            let all = try s.restore(snap) { $0.includes = ["*"] }
            #expect(all.warnings.count == 11 && s.read("ok") == "good")
            let some = try s.restore(snap, into: s.target + "/2") { $0.includes = ["*x*", "..", "*/..", "/abs"]; $0.excludes = ["ok"] }
            // Eleven unsafe names, and each include that matched nothing says so.
            #expect(some.warnings.filter { $0.contains("unsafe name") }.count == 11 && !FileManager.default.fileExists(atPath: s.target + "/2/ok"))
            #expect(some.warnings.filter { $0.contains("matched nothing") }.count == some.warnings.count - 11, "\(some.warnings)")
            let sub = try s.restore(snap, path: "okdir", into: s.target + "/3")
            #expect(sub.warnings.count == 2 && Fixtures.read(s.target + "/3/inner.txt") == Array("inner".utf8))
            // "snapshot:/.." finds the tree's own ".." entry; a file or symlink node given
            // directly is checked like any other.
            let up = try s.restore(snap, path: "/..", into: s.target + "/4")
            #expect(up.warnings.isEmpty && Fixtures.read(s.target + "/4/pwned.txt") == Array("pwned".utf8))
            for bad in ["../escaped", "..", "a/b", ""] {
                let n = try s.file(bad)
                let one = try s.restorer().restore(node: n, displayPath: Array("/x/\(bad)".utf8), target: s.target + "/5")
                #expect(one.warnings.count == 1 && one.warnings[0].contains("unsafe name"), "\(one.warnings)")
            }
            for bad in ["../escaped-link", "../../outside.txt"] {
                let one = try s.restorer().restore(node: s.symlink(bad, "/etc"), displayPath: [], target: s.target + "/5")
                #expect(one.warnings.count == 1, "\(one.warnings)")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: s.target + "/5").isEmpty)
        }
    }

    // MARK: symlinks

    /// Symlinks from one snapshot (or already in the target) in the way of folders and files of
    /// the next: replaced, never written through.
    @Test func symlinksAreNeverFollowed() throws {
        let s = try Sandbox()
        let links = try s.snapshot([
            s.symlink("rel", "../../../decoy"),
            s.symlink("abs", s.decoy),
            s.symlink("up", ".."),
            s.symlink("filelink", s.outside),
            s.symlink("secretlink", s.decoy + "/secret.txt"),
            // The same name as a symlink at one level and a folder one level down.
            s.symlink("same", s.decoy),
            try s.dir("d", [try s.dir("same", [try s.file("secret.txt", "nested")])]),
        ])
        let dirs = try s.snapshot([
            try s.dir("rel", [try s.file("secret.txt", "pwned"), try s.dir("sub", [try s.file("inner.txt", "pwned")])]),
            try s.dir("abs", [try s.file("new.txt", "pwned")]),
            try s.dir("up", [try s.file("target-sibling", "pwned")]),
            try s.file("filelink", "pwned"),
            try s.file("secretlink", "pwned", links: 2, inode: 1),
            try s.file("secretlink2", "pwned", links: 2, inode: 1),
        ])
        try s.watched {
            let r1 = try s.restore(links)
            #expect(r1.warnings.isEmpty, "\(r1.warnings)")
            #expect(s.type("rel") == S_IFLNK && s.type("same") == S_IFLNK && s.read("d/same/secret.txt") == "nested")
            // --overwrite never keeps the symlinks and does not restore what would go through them.
            let never = try s.restore(dirs) { $0.overwrite = .never }
            Self.has(never, "in the way of a folder", count: 3)
            #expect(never.warnings.count == 3 && never.skipped == 5)
            #expect(s.type("rel") == S_IFLNK && s.type("abs") == S_IFLNK && s.type("filelink") == S_IFLNK)
            #expect(s.read("secretlink2") == "pwned")
            // --overwrite always (and if-changed) replaces the symlinks themselves.
            for policy in [OverwritePolicy.ifChanged, .always] {
                _ = try s.restore(links)
                let r = try s.restore(dirs) { $0.overwrite = policy }
                #expect(r.warnings.isEmpty, "\(policy): \(r.warnings)")
                #expect(s.type("rel") == S_IFDIR && s.read("rel/secret.txt") == "pwned" && s.read("rel/sub/inner.txt") == "pwned")
                #expect(s.type("abs") == S_IFDIR && s.read("abs/new.txt") == "pwned")
                #expect(s.type("up") == S_IFDIR && s.read("up/target-sibling") == "pwned")
                #expect(s.type("filelink") == S_IFREG && s.type("secretlink") == S_IFREG)
            }
            // (if-changed kept secretlink2, unchanged since the first round; always re-links it.)
            #expect(Fixtures.lstat(s.target + "/secretlink").st_ino == Fixtures.lstat(s.target + "/secretlink2").st_ino)
        }
    }

    /// Symlinks put in the target by someone else, pointing outside, at every level.
    @Test func symlinksAlreadyInTheTargetAreReplaced() throws {
        let s = try Sandbox()
        let snap = try s.snapshot([
            try s.dir("pre", [try s.file("secret.txt", "pwned"), try s.dir("sub", [try s.file("inner.txt", "pwned")])]),
            try s.dir("deep", [try s.dir("pre", [try s.file("secret.txt", "pwned")])]),
            try s.file("prefile", "pwned"),
            s.symlink("prelink", "/"),
            Node(name: Array("prefifo".utf8), type: .fifo, mode: 0o600),
        ])
        func plant() {
            // Start from an empty target (removing symlinks, never what they point at).
            for e in (try? FileManager.default.contentsOfDirectory(atPath: s.target)) ?? [] {
                let p = s.target + "/" + e
                if Fixtures.lstat(p).st_mode & S_IFMT == S_IFDIR { try? FileManager.default.removeItem(atPath: p) } else { unlink(p) }
            }
            mkdir(s.target + "/deep", 0o755)
            for (name, to) in [("pre", s.decoy), ("deep/pre", s.decoy), ("prefile", s.outside), ("prelink", s.outside), ("prefifo", s.outside)] {
                #expect(Glibc.symlink(to, s.target + "/" + name) == 0, "\(name)")
            }
        }
        try s.watched {
            plant()
            let never = try s.restore(snap) { $0.overwrite = .never }
            #expect(never.warnings.count == 2 && never.skipped == 5, "\(never.warnings)")
            #expect(s.type("pre") == S_IFLNK && s.type("prefile") == S_IFLNK)
            for policy in [OverwritePolicy.ifChanged, .always] {
                plant()
                let r = try s.restore(snap) { $0.overwrite = policy }
                #expect(r.warnings.isEmpty, "\(policy): \(r.warnings)")
                #expect(s.read("pre/secret.txt") == "pwned" && s.read("pre/sub/inner.txt") == "pwned" && s.read("deep/pre/secret.txt") == "pwned")
                #expect(s.type("prefile") == S_IFREG && s.type("prefifo") == S_IFIFO)
                #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: s.target + "/prelink")) == "/")
            }
        }
    }

    // MARK: hard links

    @Test func hardLinksStayInsideTheTarget() throws {
        let s = try Sandbox()
        let snap = try s.snapshot([
            try s.file("a", "same", links: 3, inode: 7),
            try s.dir("b", [try s.file("c", "same", links: 3, inode: 7)]),
            try s.dir("d", [try s.file("e", "same", links: 3, inode: 7)]),
            // Same device and inode, different content: not linked.
            try s.file("f", "other", links: 2, inode: 7),
            // A group whose first member has an unsafe name.
            try s.file("..", "pwned", links: 2, inode: 8),
            try s.file("g", "eight", links: 2, inode: 8),
        ])
        // Each level holds a folder descriptor: make room for maxDepth of them.
        var lim = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim) == 0, lim.rlim_cur < 4096 {
            lim.rlim_cur = min(4096, lim.rlim_max); setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)
        }
        try s.watched {
            let r = try s.restore(snap)
            #expect(r.warnings.count == 2, "\(r.warnings)")
            Self.has(r, "different content")
            let ino = Fixtures.lstat(s.target + "/a").st_ino
            #expect(Fixtures.lstat(s.target + "/b/c").st_ino == ino && Fixtures.lstat(s.target + "/d/e").st_ino == ino)
            #expect(Fixtures.lstat(s.target + "/a").st_nlink == 3)
            #expect(s.read("f") == "other" && Fixtures.lstat(s.target + "/f").st_ino != ino)
            #expect(s.read("g") == "eight")
        }
    }

    /// The first file of a link group is reached again through folders opened without
    /// following symlinks, and the link must be that file. Simulates the folder being swapped
    /// for a symlink to the outside between the two members (a concurrent process in the target).
    @Test func hardLinksAreNotMadeThroughASwappedFolder() throws {
        let s = try Sandbox()
        let r = s.restorer()
        r.rootFD = open(s.target, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(r.rootFD) }
        #expect(Glibc.symlink(s.decoy, s.target + "/swapped") == 0)
        Fixtures.write(s.target + "/real/secret.txt", Array("x".utf8))
        var st = Fixtures.lstat(s.decoy + "/secret.txt")
        s.watched {
            let swapped = Restorer.LinkedFile(rel: Array("swapped/secret.txt".utf8), device: UInt64(st.st_dev), inode: UInt64(st.st_ino), chunks: [])
            #expect(!r.link(to: swapped, name: Array("l1".utf8), dirFD: r.rootFD))
            // A different file at the recorded path (the inode does not match): the link is undone.
            st = Fixtures.lstat(s.target + "/real/secret.txt")
            let moved = Restorer.LinkedFile(rel: Array("real/secret.txt".utf8), device: UInt64(st.st_dev), inode: UInt64(st.st_ino) + 1, chunks: [])
            #expect(!r.link(to: moved, name: Array("l2".utf8), dirFD: r.rootFD))
            let good = Restorer.LinkedFile(rel: Array("real/secret.txt".utf8), device: UInt64(st.st_dev), inode: UInt64(st.st_ino), chunks: [])
            #expect(r.link(to: good, name: Array("l3".utf8), dirFD: r.rootFD))
        }
        #expect(!s.exists("l1") && !s.exists("l2") && s.read("l3") == "x")
    }

    // MARK: sizes, repeats, times

    @Test func absurdSizesTimesAndModes() throws {
        let s = try Sandbox()
        var huge = try s.file("huge", "abc"); huge.size = 1 << 62
        var max = try s.file("max", "abc"); max.size = .max; max.content = .chunks([])
        var times = try s.file("times", "t"); times.mtime = .min; times.mode = .max
        var future = try s.file("future", "t"); future.mtime = .max
        let snap = try s.snapshot([huge, max, times, future, try s.file("ok", "good")])
        try s.watched {
            // if-changed twice: the second run compares the absurd sizes with the files on disk.
            for policy in [OverwritePolicy.always, .ifChanged, .ifChanged] {
                let r = try s.restore(snap) { $0.overwrite = policy; $0.verify = true }
                Self.has(r, "huge: the snapshot records 4611686018427387904 bytes but its chunks hold 3")
                Self.has(r, "max: the snapshot records 18446744073709551615 bytes but its chunks hold 0")
                // Times beyond what the file system holds may be refused (EINVAL/EOVERFLOW); no trap.
                #expect(r.warnings.allSatisfy { $0.contains("records") || $0.hasPrefix("times ") }, "\(r.warnings)")
                #expect(Fixtures.lstat(s.target + "/huge").st_size == 3 && s.read("huge") == "abc")
                #expect(Fixtures.lstat(s.target + "/huge").st_blocks <= 8)
                #expect(Fixtures.lstat(s.target + "/max").st_size == 0)
                #expect(s.read("times") == "t" && Fixtures.lstat(s.target + "/times").st_mode & 0o7777 == 0o7777)
                #expect(s.read("ok") == "good" && s.read("future") == "t")
                #expect(r.verified + r.skipped == 5 && (policy == .ifChanged || r.verified == 5), "\(r)")
            }
        }
        #expect(Timestamp(nanoseconds: .min).seconds == -9_223_372_037 && Timestamp(nanoseconds: .min).subsecondNanos == 145_224_192)
        #expect(Timestamp(nanoseconds: -1).seconds == -1 && Timestamp(nanoseconds: -1).subsecondNanos == 999_999_999)
    }

    /// A chunk list naming one blob a million times: the work is one write per reference (none
    /// for an all-zero blob), and the file is what the list says.
    @Test func aChunkRepeatedAMillionTimes() throws {
        let s = try Sandbox()
        let million = 1 << 20
        let x = try s.repo.saveBlob(.data, Array("x".utf8)).id
        let zero = try s.repo.saveBlob(.data, [UInt8](repeating: 0, count: 1 << 16)).id
        // Tree.encode appends IDs one by one, which takes seconds in a debug build: write the
        // encoding of these two nodes directly (same bytes).
        func encoded(_ n: Node, repeating id: ID, _ count: Int) -> [UInt8] {
            var one = n; one.content = .chunks([id])
            let b = Array(Tree(nodes: [one]).encode().dropFirst(5))   // without version and node count
            // b ends with chunk count (4) | ID (32) | extension (4).
            var ids = Array(b[(b.count - 36)..<(b.count - 4)])
            while ids.count < count * 32 { ids += ids }
            var c = ByteWriter(); c.u32(UInt32(count))
            return Array(b[..<(b.count - 40)]) + c.bytes + Array(ids[..<(count * 32)]) + Array(b[(b.count - 4)...])
        }
        let repeated = Node(name: Array("repeated".utf8), type: .file, mode: 0o644, size: UInt64(million))
        let holes = Node(name: Array("sparse".utf8), type: .file, mode: 0o644, size: UInt64(1 << 16) << 16)
        var w = ByteWriter(); w.u8(1); w.u32(3)
        let bytes = w.bytes + encoded(repeated, repeating: x, million) + encoded(holes, repeating: zero, 1 << 16)
            + Tree(nodes: [try s.file("zz-ok", "good")]).encode().dropFirst(5)
        let tree = try s.repo.saveBlob(.tree, bytes).id
        let snap = try s.snapshot(tree: tree)
        #expect(try s.repo.loadTree(tree).nodes.map(\.chunks.count) == [million, 1 << 16, 1])
        try s.watched {
            let r = try s.restore(snap)
            #expect(r.warnings.isEmpty, "\(r.warnings)")
            #expect(Fixtures.read(s.target + "/repeated") == [UInt8](repeating: 120, count: million))
            // 65,536 references to an all-zero 64 KiB chunk: a 4 GiB hole, nothing written.
            let h = Fixtures.lstat(s.target + "/sparse")
            #expect(h.st_size == 1 << 32 && h.st_blocks == 0)
            #expect(s.read("zz-ok") == "good")
        }
    }

    // MARK: devices

    @Test func devicesAreRestoredOnlyByRoot() throws {
        let s = try Sandbox()
        let snap = try s.snapshot([
            Node(name: Array("null".utf8), type: .charDevice, mode: 0o666, rdev: 0x103),    // 1:3
            Node(name: Array("loop".utf8), type: .blockDevice, mode: 0o660, rdev: 0x700),   // 7:0
            Node(name: Array("fifo".utf8), type: .fifo, mode: 0o640, rdev: 0x103),
            Node(name: Array("sock".utf8), type: .socket, mode: 0o777),
            try s.file("ok", "good"),
        ])
        let node = try s.repo.node(at: "", root: try s.repo.loadSnapshot(snap).treeID!)
        try s.watched {
            let user = s.restorer()
            user.isRoot = false
            let r = try user.restore(node: node, displayPath: [], target: s.target)
            #expect(r.warnings.count == 2, "\(r.warnings)")
            Self.has(r, "null: skipping character device (only root restores devices)")
            Self.has(r, "loop: skipping block device (only root restores devices)")
            #expect(!s.exists("null") && !s.exists("loop") && !s.exists("sock"))
            #expect(s.type("fifo") == S_IFIFO && Fixtures.lstat(s.target + "/fifo").st_mode & 0o7777 == 0o640)
            #expect(s.read("ok") == "good")
        }
        // As root they are created, inside the target, with their device numbers.
        guard geteuid() == 0 else { return }
        let r = try s.restore(snap, into: s.target + "/root")
        #expect(r.warnings.isEmpty, "\(r.warnings)")
        let null = Fixtures.lstat(s.target + "/root/null"), loop = Fixtures.lstat(s.target + "/root/loop")
        #expect(null.st_mode & S_IFMT == S_IFCHR && null.st_rdev == 0x103 && null.st_mode & 0o7777 == 0o666)
        #expect(loop.st_mode & S_IFMT == S_IFBLK && loop.st_rdev == 0x700)
    }

    // MARK: tree shape

    /// A tree that contains itself (only a repository that forged a blob ID can say so), and a
    /// chain of folders deeper than any real path.
    @Test func cyclesAndDepthAreBounded() throws {
        let s = try Sandbox()
        let loopID = ID(hex: String(repeating: "ab", count: 32))!
        let looping = Tree(nodes: [
            Node(name: Array("again".utf8), type: .directory, mode: 0o755, content: .subtree(loopID)),
            try s.file("ok", "good"),
        ])
        _ = try looping.encode().withUnsafeBytes { try s.repo.saveBlob(.tree, $0, id: loopID) }
        var deep = try s.tree([try s.file("bottom", "deep")])
        for _ in 0..<(Restorer.maxDepth + 10) { deep = try s.tree([Node(name: Array("d".utf8), type: .directory, mode: 0o755, content: .subtree(deep))]) }
        let snap = try s.snapshot([
            Node(name: Array("loop".utf8), type: .directory, mode: 0o755, content: .subtree(loopID)),
            Node(name: Array("deep".utf8), type: .directory, mode: 0o755, content: .subtree(deep)),
        ])
        // Each level holds a folder descriptor: make room for maxDepth of them.
        var lim = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim) == 0, lim.rlim_cur < 4096 {
            lim.rlim_cur = min(4096, lim.rlim_max); setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)
        }
        try s.watched {
            let r = try s.restore(snap)
            #expect(r.warnings.count == 2, "\(r.warnings)")
            Self.has(r, "loop/again: tree \(loopID.short) contains itself")
            Self.has(r, "nested deeper than \(Restorer.maxDepth) levels")
            #expect(s.read("loop/ok") == "good" && s.type("loop/again") == S_IFDIR && !s.exists("loop/again/ok"))
        }
    }

    // MARK: the command line

    /// `cairn restore` prints each refusal (escaped) and exits 1; the good entries are there.
    @Test func theCommandLineWarnsAndFails() throws {
        let s = try Sandbox()
        let snap = try hostileNames(s)
        try s.watched {
            let r = try CLITests.cairn(["restore", snap.hex + ":/", "--target", s.target, "--include", "*"],
                                       repo: s.tmp.sub("repo"), password: String(decoding: Fixtures.password, as: UTF8.self))
            #expect(r.status == 1, "\(r.err)")
            #expect(r.err.contains(#"warning: /: skipping entry with unsafe name "x\x00y""#), "\(r.err)")
            #expect(r.err.components(separatedBy: "unsafe name").count == 12, "\(r.err)")
            #expect(s.read("ok") == "good" && s.read("okdir/inner.txt") == "inner")
        }
    }
}
