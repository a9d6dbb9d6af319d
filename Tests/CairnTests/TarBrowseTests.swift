import CairnChunking
import CairnCore
import CairnCrypto
@testable import CairnArchive
@testable import CairnRestore
@testable import CairnTree
import CairnFormat
import CairnRepository
import CairnStorage
import Foundation
import Testing

/// Browsing inside tar stream snapshots (format-spec §13.5): `ls` lists the members of real
/// archives as Python's tarfile reads them, `dump` gives a member's bytes, `restore
/// --from-stream` rebuilds the tree, hostile archives write nothing outside the target, and
/// listing loads only the chunks that hold headers.
@Suite(.serialized) struct TarBrowseTests {
    static let sh = TarChunkingTests.sh

    /// Python's tarfile as the oracle: one JSON object per member.
    static let pythonList = """
    import json, sys, tarfile
    kinds = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.CONTTYPE: "file", tarfile.GNUTYPE_SPARSE: "file",
             tarfile.LNKTYPE: "hardlink", tarfile.SYMTYPE: "symlink", tarfile.CHRTYPE: "chardev", tarfile.BLKTYPE: "blockdev",
             tarfile.DIRTYPE: "dir", tarfile.FIFOTYPE: "fifo"}
    with tarfile.open(sys.argv[1], "r:", encoding="utf-8") as t:
        for m in t:
            parts = [p for p in m.name.split("/") if p not in ("", ".")]
            if not parts: continue
            print(json.dumps({"path": "/".join(parts), "type": kinds.get(m.type, "other"), "size": m.size if m.isreg() else 0,
                              "mode": m.mode & 0o7777, "mtime": int(m.mtime // 1), "uid": m.uid, "gid": m.gid,
                              "user": m.uname, "group": m.gname, "link": m.linkname if (m.issym() or m.islnk()) else None}))
    """

    struct Listed: Decodable, Equatable {
        var path: String; var type: String; var size: UInt64; var mode: UInt32; var uid: UInt32; var gid: UInt32
        var user: String; var group: String; var link: String?; var mtime: Int64
    }

    static func oracle(_ tmp: TempDir, _ archive: String) -> [Listed] {
        let py = tmp.sub("list.py")
        if !FileManager.default.fileExists(atPath: py) { try! pythonList.write(toFile: py, atomically: true, encoding: .utf8) }
        let p = Process(), pipe = Pipe()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", py, archive]
        p.standardOutput = pipe
        try! p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "python tarfile could not list \(archive)")
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map { try! JSONDecoder().decode(Listed.self, from: Data($0.utf8)) }
    }

    /// `ls --json` of a stream's members, as the oracle's records.
    static func listed(_ repo: String, _ args: [String], stream: String) throws -> [Listed] {
        struct Entry: Decodable { var path: String; var type: String; var size: UInt64; var mode: UInt32; var uid: UInt32; var gid: UInt32
            var user: String; var group: String; var link_target: String?; var mtime: String }
        let r = try CLITests.cairn(["ls", "--json"] + args, repo: repo)
        #expect(r.status == 0, "\(r.err)")
        let entries = try JSONDecoder().decode([Entry].self, from: Data(r.out.utf8))
        return entries.compactMap { e in
            guard e.path.hasPrefix("/" + stream + "/") else { return nil }
            return Listed(path: String(e.path.dropFirst(stream.count + 2)), type: e.type, size: e.size, mode: e.mode, uid: e.uid, gid: e.gid,
                          user: e.user, group: e.group, link: e.link_target, mtime: Timestamp.parse(e.mtime)!.seconds)
        }
    }

    static func backup(_ repo: String, _ bytes: [UInt8], name: String) throws {
        let r = try CLITests.cairn(["backup", "--stdin", "--stdin-filename", name], repo: repo, stdin: Data(bytes))
        #expect(r.status == 0, "\(r.err)")
    }

    static func sha(_ path: String) -> String { SHA256.hash(Fixtures.read(path) ?? [UInt8](repeating: 1, count: 1)).hex }

    /// Every regular file below `root` by relative path.
    static func files(_ root: String) -> [String] {
        (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []).filter {
            Fixtures.lstat(root + "/" + $0).st_mode & S_IFMT == S_IFREG
        }.sorted()
    }

    /// Differences between `src` and what was restored to `dst`: type, mode, mtime (seconds),
    /// content, symlink target, and hard links (files sharing an inode in `src` share one in
    /// `dst`). Entries only in `dst` are allowed when `extra` says so.
    static func differences(_ src: String, _ dst: String, extra: (String) -> Bool = { _ in false }) -> [String] {
        var out: [String] = []
        let a = Set(FileManager.default.enumerator(atPath: src)?.allObjects as? [String] ?? [])
        let b = Set(FileManager.default.enumerator(atPath: dst)?.allObjects as? [String] ?? [])
        for p in a.subtracting(b).sorted() { out.append("missing: \(p)") }
        for p in b.subtracting(a).sorted() where !extra(p) { out.append("extra: \(p)") }
        var inodes: [UInt: String] = [:]
        for p in a.intersection(b).sorted() {
            let s = Fixtures.lstat(src + "/" + p), d = Fixtures.lstat(dst + "/" + p)
            if s.st_mode != d.st_mode { out.append("\(p): mode \(String(s.st_mode, radix: 8)) → \(String(d.st_mode, radix: 8))") }
            if s.st_mode & S_IFMT != S_IFLNK, s.st_mtim.tv_sec != d.st_mtim.tv_sec { out.append("\(p): mtime \(s.st_mtim.tv_sec) → \(d.st_mtim.tv_sec)") }
            switch s.st_mode & S_IFMT {
            case S_IFREG:
                if sha(src + "/" + p) != sha(dst + "/" + p) { out.append("\(p): content differs") }
                if s.st_nlink > 1 {
                    if let first = inodes[UInt(s.st_ino)] {
                        if Fixtures.lstat(dst + "/" + first).st_ino != d.st_ino { out.append("\(p): not a hard link to \(first)") }
                    } else { inodes[UInt(s.st_ino)] = p }
                }
            case S_IFLNK:
                let t1 = try? FileManager.default.destinationOfSymbolicLink(atPath: src + "/" + p)
                let t2 = try? FileManager.default.destinationOfSymbolicLink(atPath: dst + "/" + p)
                if t1 != t2 { out.append("\(p): symlink \(t1 ?? "?") → \(t2 ?? "?")") }
            default: break
            }
        }
        return out
    }

    // MARK: real archives

    /// GNU tar, bsdtar and Python's tarfile, in every format (long names, pax records, a
    /// symlink, a hard link, sparse files): `ls` shows every member with the oracle's fields,
    /// `dump` of every file member equals the source file, and `restore --from-stream` gives
    /// back the source tree.
    @Test func realArchivesListDumpAndRestore() throws {
        let tmp = TempDir()
        let src = try TarChunkingTests.sourceTree(tmp)
        let repo = try CLITests.initRepo(tmp)
        let sources = Self.files(src)
        #expect(sources.contains { $0.utf8.count > 150 } && sources.contains("hard.bin") && sources.contains("sparse.img"))
        for (i, (tool, bytes)) in TarChunkingTests.archives(tmp, src).enumerated() {
            let name = "s\(i).tar"
            try Self.backup(repo, bytes, name: name)
            // ls: every member the oracle sees, with its type, size, mode, owner, mtime, link.
            let expected = Self.oracle(tmp, tmp.sub("a\(i).tar"))
            let got = try Self.listed(repo, ["latest"], stream: name)
            #expect(expected.count >= 10, "\(tool)")
            #expect(got.count == expected.count, "\(tool): ls shows \(got.count) members, tarfile \(expected.count)")
            for (g, e) in zip(got, expected) where g != e { Issue.record("\(tool): ls \(g) != tarfile \(e)") }
            #expect(got.contains { $0.type == "symlink" && $0.link == "small.txt" }, "\(tool)")
            #expect(got.contains { $0.type == "hardlink" }, "\(tool)")
            // dump: each file, including a hard link (the target's data) and the sparse file.
            for f in sources {
                let out = tmp.sub("dumped")
                #expect(Self.sh("CAIRN_PASSWORD=pw '\(CLITests.binary)' -r '\(repo)' --no-cache dump latest '\(name):\(f)' > '\(out)'") == 0, "\(tool): dump \(f)")
                #expect(Self.sha(out) == Self.sha(src + "/" + f), "\(tool): dump of \(f) differs")
            }
            // restore --from-stream: the source tree.
            let dst = tmp.sub("r\(i)")
            let r = try CLITests.cairn(["restore", "latest", "--from-stream", "--target", dst], repo: repo)
            #expect(r.status == 0, "\(tool): \(r.err)")
            let diff = Self.differences(src, dst) { $0.hasPrefix("pax-") }
            #expect(diff.isEmpty, "\(tool): \(diff)")
            if tool.contains("sparse") {
                var st = stat()
                _ = stat(dst + "/sparse.img", &st)
                #expect(st.st_blocks * 512 < 1_000_000, "\(tool): the sparse file's holes were written (\(st.st_blocks) blocks)")
            }
        }
    }

    /// The path forms of ls, dump and restore, --no-recursive, --no-members, and the errors for
    /// a folder, a symlink, a missing member and a snapshot that is not a tar stream.
    @Test func pathFormsAndErrors() throws {
        let tmp = TempDir()
        let src = tmp.sub("src")
        Fixtures.write(src + "/dir/a.txt", Array("a\n".utf8))
        Fixtures.write(src + "/dir/sub/b.txt", Array("b\n".utf8))
        Fixtures.write(src + "/top.txt", Array("top\n".utf8))
        try FileManager.default.createSymbolicLink(atPath: src + "/dir/link", withDestinationPath: "a.txt")
        #expect(Self.sh("tar --format=gnu --sort=name -cf '\(tmp.sub("t.tar"))' -C '\(src)' dir top.txt") == 0)
        let repo = try CLITests.initRepo(tmp)
        try Self.backup(repo, Fixtures.read(tmp.sub("t.tar")) ?? [], name: "t.tar")
        func ls(_ args: String...) throws -> [String] {
            let r = try CLITests.cairn(["ls"] + args, repo: repo)
            #expect(r.status == 0, "\(r.err)")
            return r.out.split(separator: "\n").map(String.init)
        }
        #expect(try ls("latest") == ["/t.tar", "/t.tar/dir", "/t.tar/dir/a.txt", "/t.tar/dir/link", "/t.tar/dir/sub", "/t.tar/dir/sub/b.txt", "/t.tar/top.txt"])
        #expect(try ls("latest", "--no-members") == ["/t.tar"])
        #expect(try ls("latest", "--no-recursive") == ["/t.tar"])
        #expect(try ls("latest", "t.tar") == ["/t.tar/dir", "/t.tar/dir/a.txt", "/t.tar/dir/link", "/t.tar/dir/sub", "/t.tar/dir/sub/b.txt", "/t.tar/top.txt"])
        #expect(try ls("latest", "t.tar:dir") == ["/t.tar/dir/a.txt", "/t.tar/dir/link", "/t.tar/dir/sub", "/t.tar/dir/sub/b.txt"])
        #expect(try ls("latest", "/t.tar/dir", "--no-recursive") == ["/t.tar/dir/a.txt", "/t.tar/dir/link", "/t.tar/dir/sub"])
        #expect(try ls("latest", "t.tar:top.txt") == ["/t.tar/top.txt"])
        let long = try ls("latest", "--long", "t.tar:dir")
        #expect(long.count == 4 && long[0].hasPrefix("-rw-") && long[0].hasSuffix(" /t.tar/dir/a.txt"), "\(long)")
        #expect(long.count == 4 && long[1].hasPrefix("lrwx") && long[1].hasSuffix("/t.tar/dir/link -> a.txt"), "\(long)")
        #expect(try CLITests.cairn(["ls", "latest", "t.tar:nothing"], repo: repo).status == 1)
        // dump
        #expect(try CLITests.cairn(["dump", "latest", "/t.tar/dir/sub/b.txt"], repo: repo).out == "b\n")
        #expect(try CLITests.cairn(["dump", "latest", "t.tar:top.txt"], repo: repo).out == "top\n")
        let dir = try CLITests.cairn(["dump", "latest", "t.tar:dir"], repo: repo)
        #expect(dir.status == 1 && dir.err.contains("is a folder in the tar stream") && dir.out.isEmpty)
        let link = try CLITests.cairn(["dump", "latest", "t.tar:dir/link"], repo: repo)
        #expect(link.status == 1 && link.err.contains("is a symlink to a.txt"))
        #expect(try CLITests.cairn(["dump", "latest", "t.tar:dir/missing"], repo: repo).status == 1)
        #expect(Self.sh("CAIRN_PASSWORD=pw '\(CLITests.binary)' -r '\(repo)' --no-cache dump latest t.tar > '\(tmp.sub("whole"))'") == 0)
        #expect(Self.sha(tmp.sub("whole")) == Self.sha(tmp.sub("t.tar")), "dump of the stream itself is the tar")
        // restore: SNAPSHOT:STREAM:PATH puts that folder's content into the target.
        let r = try CLITests.cairn(["restore", "latest:t.tar:dir", "--target", tmp.sub("r1")], repo: repo)
        #expect(r.status == 0, "\(r.err)")
        #expect(Self.files(tmp.sub("r1")) == ["a.txt", "sub/b.txt"])
        // Again into the same target: replaced, or kept with --overwrite never.
        Fixtures.write(tmp.sub("r1/a.txt"), Array("changed".utf8))
        let never = try CLITests.cairn(["restore", "latest:t.tar:dir", "--overwrite", "never", "--target", tmp.sub("r1")], repo: repo)
        #expect(never.status == 0 && Fixtures.read(tmp.sub("r1/a.txt")) == Array("changed".utf8), "\(never.err)")
        #expect(try CLITests.cairn(["restore", "latest:t.tar:dir", "--target", tmp.sub("r1")], repo: repo).status == 0)
        #expect(Fixtures.read(tmp.sub("r1/a.txt")) == Array("a\n".utf8))
        #expect(try CLITests.cairn(["restore", "latest:/t.tar/top.txt", "--target", tmp.sub("r2")], repo: repo).status == 0)
        #expect(Self.files(tmp.sub("r2")) == ["top.txt"])
        #expect(try CLITests.cairn(["restore", "latest", "--from-stream", "--exclude", "sub", "--target", tmp.sub("r3")], repo: repo).status == 0)
        #expect(Self.files(tmp.sub("r3")) == ["dir/a.txt", "top.txt"])
        #expect(try CLITests.cairn(["restore", "latest", "--from-stream", "--include", "*.txt", "--target", tmp.sub("r4")], repo: repo).status == 0)
        #expect(Self.files(tmp.sub("r4")) == ["dir/a.txt", "dir/sub/b.txt", "top.txt"])
        #expect(Fixtures.lstat(tmp.sub("r4/dir/link")).st_mode == 0)
        // Without --from-stream, SNAPSHOT:STREAM restores the tar file itself.
        #expect(try CLITests.cairn(["restore", "latest:t.tar", "--target", tmp.sub("r5")], repo: repo).status == 0)
        #expect(Self.sha(tmp.sub("r5/t.tar")) == Self.sha(tmp.sub("t.tar")))
        let missing = try CLITests.cairn(["restore", "latest:t.tar:nothing", "--target", tmp.sub("r6")], repo: repo)
        #expect(missing.status == 1 && missing.err.contains("is not a member"))
        // Not a tar stream: a stream of other bytes, a backup of a folder.
        try Self.backup(repo, Fixtures.random(5000, seed: "raw"), name: "raw.bin")
        #expect(try ls("latest") == ["/raw.bin"])
        let raw = try CLITests.cairn(["restore", "latest", "--from-stream", "--target", tmp.sub("r7")], repo: repo)
        #expect(raw.status == 1 && raw.err.contains("not a stream snapshot that holds a tar"), "\(raw.err)")
        #expect(try CLITests.cairn(["backup", src], repo: repo).status == 0)
        let folder = try CLITests.cairn(["restore", "latest", "--from-stream", "--target", tmp.sub("r8")], repo: repo)
        #expect(folder.status == 1 && folder.err.contains("not a stream snapshot"))
    }

    /// Numbers in base-256 (a large uid, a time before 1970), pax times with fractions and
    /// signs, pax owner names, a pax size, a GNU long link, global records, and an archive that
    /// stops being a tar: ls shows what tarfile shows, then a warning.
    @Test func headerFieldsAsTarfileReadsThem() throws {
        let tmp = TempDir()
        let script = """
        import io, sys, tarfile
        out = sys.argv[1]
        def add(t, name, data=b"", **kw):
            i = tarfile.TarInfo(name)
            for k, v in kw.items(): setattr(i, k, v)
            i.size = len(data) if i.type in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
            t.addfile(i, io.BytesIO(data) if i.size else None)
        with tarfile.open(out + "-gnu", "w", format=tarfile.GNU_FORMAT) as t:
            add(t, "bigid", b"x" * 700, uid=10_000_000, gid=3_000_000_000, mtime=-86400 * 400, mode=0o4755, uname="u" * 31, gname="g")
            add(t, "link-" + "l" * 120, type=tarfile.SYMTYPE, linkname="target-" + "t" * 120)
            add(t, "dev", type=tarfile.CHRTYPE, devmajor=1, devminor=3)
        with tarfile.open(out + "-pax", "w", format=tarfile.PAX_FORMAT, pax_headers={"uname": "globaluser"}) as t:
            add(t, "frac", b"y" * 3, pax_headers={"mtime": "1700000000.987654321"}, uname="ünï", gname="grp")
            add(t, "neg", b"z", pax_headers={"mtime": "-1.5"})
            add(t, "plain", b"p")
        """
        try script.write(toFile: tmp.sub("mk.py"), atomically: true, encoding: .utf8)
        #expect(Self.sh("python3 '\(tmp.sub("mk.py"))' '\(tmp.sub("h"))'") == 0)
        let repo = try CLITests.initRepo(tmp)
        for f in ["gnu", "pax"] {
            let archive = tmp.sub("h-\(f)")
            try Self.backup(repo, Fixtures.read(archive) ?? [], name: "h.tar")
            let got = try Self.listed(repo, ["latest"], stream: "h.tar"), expected = Self.oracle(tmp, archive)
            #expect(got == expected, "\(f): \(got) != \(expected)")
        }
        let json = try CLITests.cairn(["ls", "--json", "latest"], repo: repo).out
        #expect(json.contains("\"mtime\" : \"1969-12-31T23:59:58.500000000Z\""), "pax mtime -1.5")
        #expect(json.contains("\"mtime\" : \"2023-11-14T22:13:20.987654321Z\""), "pax mtime with nanoseconds")
        // Garbage after the members: they are listed, then a warning names the bad block.
        var broken = Fixtures.read(tmp.sub("h-pax")) ?? []
        let plain = try #require(stride(from: 0, to: broken.count, by: 512).first { broken[$0..<($0 + 5)].elementsEqual("plain".utf8) })
        broken.replaceSubrange(plain + 1024..<plain + 1536, with: Fixtures.random(512, seed: "junk"))
        try Self.backup(repo, broken, name: "h.tar")
        let r = try CLITests.cairn(["ls", "latest"], repo: repo)
        #expect(r.status == 0 && r.out.contains("/h.tar/plain"))
        #expect(r.err.contains("is not a tar header"), "\(r.err)")
    }

    /// A `.tar.gz` stored decompressed (`backup --decompress`) and a source snapshot (a path
    /// like `podman-volume:data`, not the file's name) are stream snapshots too.
    @Test func decompressedAndSourceSnapshotsAreBrowsed() throws {
        let tmp = TempDir()
        let src = tmp.sub("src")
        Fixtures.write(src + "/etc/hosts", Array("127.0.0.1 localhost\n".utf8))
        Fixtures.write(src + "/data.bin", Fixtures.random(200_000, seed: "data"))
        #expect(Self.sh("tar --format=posix --sort=name -czf '\(tmp.sub("v.tar.gz"))' -C '\(src)' .") == 0)
        let repo = try CLITests.initRepo(tmp)
        let b = try CLITests.cairn(["backup", "--stdin", "--decompress", "--stdin-filename", "v.tar.gz"], repo: repo,
                                   stdin: Data(Fixtures.read(tmp.sub("v.tar.gz")) ?? []))
        #expect(b.status == 0, "\(b.err)")
        let ls = try CLITests.cairn(["ls", "latest"], repo: repo)
        #expect(ls.out == "/v.tar\n/v.tar/data.bin\n/v.tar/etc\n/v.tar/etc/hosts\n", "\(ls.out)")
        #expect(try CLITests.cairn(["dump", "latest", "v.tar:etc/hosts"], repo: repo).out == "127.0.0.1 localhost\n")
        // A source snapshot, as `cairn backup podman-volume data` records it.
        let tmp2 = TempDir()
        let repo2 = try Fixtures.newRepository(tmp2)
        let bytes = try Self.gunzip(tmp.sub("v.tar.gz"))
        var o = BackupOptions()
        o.streamPath = "podman-volume:data"
        var pos = 0
        let r = try Archiver(repository: repo2, options: o).backup(streamNamed: "data.tar") { buf in
            let n = min(buf.count, bytes.count - pos)
            bytes.withUnsafeBytes { buf.baseAddress!.copyMemory(from: $0.baseAddress! + pos, byteCount: n) }
            pos += n; return n
        }
        #expect(r.snapshot.paths == ["podman-volume:data"])
        let listed = try CLITests.cairn(["ls", "latest", "data.tar:etc"], repo: tmp2.sub("repo"), password: "test password")
        #expect(listed.status == 0 && listed.out == "/data.tar/etc/hosts\n", "\(listed.err)")
    }

    static func gunzip(_ path: String) throws -> [UInt8] {
        let p = Process(), pipe = Pipe()
        p.executableURL = URL(fileURLWithPath: "/bin/gzip")
        p.arguments = ["-dc", path]
        p.standardOutput = pipe
        try p.run()
        let d = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        return Array(d)
    }

    // MARK: hostile archives

    /// A hostile archive (made with tarfile, which writes names as given) restored with
    /// `--from-stream`: "..", absolute paths, a symlink then a member through it, hard links
    /// out of the extraction, a symlink replacing a file a hard link then names, a device as
    /// a user: nothing outside the target changes, each gets a warning, the rest is restored.
    @Test func hostileArchivesWriteNothingOutsideTheTarget() throws {
        let s = try HostileRestoreTests.Sandbox()
        let script = """
        import io, sys, tarfile
        def add(t, name, data=b"", **kw):
            i = tarfile.TarInfo(name)
            for k, v in kw.items(): setattr(i, k, v)
            i.size = len(data) if i.type == tarfile.REGTYPE else 0
            i.mode = 0o644
            t.addfile(i, io.BytesIO(data) if i.size else None)
        with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
            add(t, "ok.txt", b"good")
            add(t, "../evil", b"pwned")
            add(t, "../../../decoy/secret.txt", b"pwned")
            add(t, "/abs/path", b"absolute")
            add(t, "link", type=tarfile.SYMTYPE, linkname="../../../decoy")
            add(t, "link/x", b"pwned")
            add(t, "link/secret.txt", b"pwned")
            add(t, "abslink", type=tarfile.SYMTYPE, linkname=sys.argv[2])
            add(t, "abslink/sub/inner.txt", b"pwned")
            add(t, "pre/x", b"pwned")
            add(t, "h1", type=tarfile.LNKTYPE, linkname="../../etc/passwd")
            add(t, "h2", type=tarfile.LNKTYPE, linkname="/etc/passwd")
            add(t, "h3", type=tarfile.LNKTYPE, linkname="link/secret.txt")
            add(t, "dir/../../escape", b"pwned")
            add(t, "f", b"file")
            add(t, "f", type=tarfile.SYMTYPE, linkname="../../../outside.txt")
            add(t, "h4", type=tarfile.LNKTYPE, linkname="f")
            add(t, "h5", type=tarfile.LNKTYPE, linkname="ok.txt")
            add(t, "sub", type=tarfile.DIRTYPE)
            add(t, "sub", type=tarfile.SYMTYPE, linkname="/tmp")
            add(t, "sub/y", b"inside")
            add(t, "dev", type=tarfile.CHRTYPE, devmajor=1, devminor=3)
            add(t, "odd-\\x1b[31m-name", b"odd")
        """
        try script.write(toFile: s.tmp.sub("mk.py"), atomically: true, encoding: .utf8)
        #expect(Self.sh("python3 '\(s.tmp.sub("mk.py"))' '\(s.tmp.sub("h.tar"))' '\(s.decoy)'") == 0)
        let bytes = Fixtures.read(s.tmp.sub("h.tar")) ?? []
        var pos = 0
        let b = try Archiver(repository: s.repo, options: BackupOptions()).backup(streamNamed: "h.tar") { buf in
            let n = min(buf.count, bytes.count - pos)
            bytes.withUnsafeBytes { buf.baseAddress!.copyMemory(from: $0.baseAddress! + pos, byteCount: n) }
            pos += n; return n
        }
        // A symlink someone left in the target, pointing at the decoy.
        try FileManager.default.createSymbolicLink(atPath: s.target + "/pre", withDestinationPath: s.decoy)
        let tar = try #require(try TarStream.open(repository: s.repo, snapshot: try s.repo.loadSnapshot(b.snapshotID!)))
        let extractor = TarExtractor(stream: tar, repository: s.repo, options: RestoreOptions())
        extractor.restorer.isRoot = false
        var r = RestoreResult()
        try s.watched { r = try extractor.extract(under: [], target: s.target) }
        HostileRestoreTests.has(r, "\"..\"", count: 3)
        HostileRestoreTests.has(r, "link/x: skipped, cannot use its folder link", count: 1)
        HostileRestoreTests.has(r, "link/secret.txt: skipped", count: 1)
        HostileRestoreTests.has(r, "abslink/sub/inner.txt: skipped, cannot use its folder abslink", count: 1)
        HostileRestoreTests.has(r, "pre/x: skipped", count: 1)
        HostileRestoreTests.has(r, "skipping hard link", count: 4)   // h1, h2, h3, h4
        HostileRestoreTests.has(r, "not replacing folder sub", count: 1)
        HostileRestoreTests.has(r, "skipping character device", count: 1)
        #expect(r.warnings.count == 13, "\(r.warnings)")
        #expect(extractor.notes == ["removing leading \"/\" from member names (as GNU tar does)"])
        #expect(s.read("ok.txt") == "good" && s.read("abs/path") == "absolute" && s.read("sub/y") == "inside")
        #expect(s.read("odd-\u{1b}[31m-name") == "odd")
        #expect(s.type("link") == S_IFLNK && s.type("abslink") == S_IFLNK && s.type("f") == S_IFLNK && s.type("sub") == S_IFDIR)
        #expect(Fixtures.lstat(s.target + "/h5").st_ino == Fixtures.lstat(s.target + "/ok.txt").st_ino)
        for gone in ["h1", "h2", "h3", "h4", "dev", "escape", "evil"] { #expect(!s.exists(gone), "\(gone)") }
        // Through the CLI: the same warnings make restore exit 1.
        let repoPath = s.tmp.sub("repo")
        let cli = try CLITests.cairn(["restore", "latest", "--from-stream", "--target", s.tmp.sub("cli")], repo: repoPath, password: "test password")
        #expect(cli.status == 1)
        #expect(cli.err.contains("note: removing leading \"/\"") && cli.err.contains("warning: ../evil: skipping member"), "\(cli.err)")
    }

    // MARK: property

    /// Random trees (folders, files of random sizes and modes, symlinks, hard links, long and
    /// non-ASCII names, set times), tarred by GNU tar or bsdtar, backed up, restored with
    /// `--from-stream`: the same tree.
    @Test func randomTreesRoundTrip() throws {
        let tmp = TempDir()
        let repo = try CLITests.initRepo(tmp)
        var rng = SplitMix(2026)
        let tools = ["tar --format=gnu", "tar --format=posix", "bsdtar --format=pax", "bsdtar --format=gnutar"]
        for round in 0..<8 {
            let src = tmp.sub("src\(round)")
            var files: [String] = [], dirs = [src]
            try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: true)
            func name() -> String {
                let pieces = ["a", "b", "Grüße", "x y", "日本", "-", "." , "long" + String(repeating: "n", count: 60)]
                return (0..<(1 + Int(rng.next() % 3))).map { _ in pieces[Int(rng.next() % UInt64(pieces.count))] }.joined() + "\(rng.next() % 1000)"
            }
            for _ in 0..<(10 + Int(rng.next() % 30)) {
                let parent = dirs[Int(rng.next() % UInt64(dirs.count))]
                let p = parent + "/" + name()
                if FileManager.default.fileExists(atPath: p) || (try? FileManager.default.destinationOfSymbolicLink(atPath: p)) != nil { continue }
                switch rng.next() % 10 {
                case 0, 1:
                    try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: false)
                    dirs.append(p)
                case 2:
                    try FileManager.default.createSymbolicLink(atPath: p, withDestinationPath: rng.next() % 2 == 0 ? "../target\(rng.next() % 9)" : "/etc/passwd")
                case 3 where !files.isEmpty:
                    try FileManager.default.linkItem(atPath: files[Int(rng.next() % UInt64(files.count))], toPath: p)
                case 4 where rng.next() % 3 == 0:
                    #expect(mkfifo(p, 0o640) == 0)
                default:
                    let sizes = [0, 1, 511, 512, 513, 10_000, 70_000, 300_000]
                    let size = rng.next() % 3 == 0 ? sizes[Int(rng.next() % UInt64(sizes.count))] : Int(rng.next() % 200_000)
                    Fixtures.write(p, Fixtures.random(size, seed: "\(round)-\(p)"))
                    chmod(p, [0o644, 0o600, 0o755, 0o400, 0o4755][Int(rng.next() % 5)])
                    files.append(p)
                }
            }
            // Times last, folders deepest first, so creating entries does not change them.
            for p in (files + dirs.dropFirst().reversed()) {
                var t = [timespec(tv_sec: Int(1_600_000_000 + rng.next() % 100_000_000), tv_nsec: 0)]
                t.append(t[0])
                utimensat(AT_FDCWD, p, &t, 0)
            }
            let tool = tools[round % tools.count]
            let archive = tmp.sub("p\(round).tar")
            #expect(Self.sh("\(tool) -cf '\(archive)' -C '\(src)' .") == 0, "\(tool)")
            try Self.backup(repo, Fixtures.read(archive) ?? [], name: "p.tar")
            let dst = tmp.sub("dst\(round)")
            let r = try CLITests.cairn(["restore", "latest", "--from-stream", "--target", dst], repo: repo)
            #expect(r.status == 0, "round \(round) \(tool): \(r.err)")
            let diff = Self.differences(src, dst)
            #expect(diff.isEmpty, "round \(round) \(tool): \(diff)")
        }
    }

    // MARK: damaged and mutated streams

    /// Real and built archives with random bytes changed inside header blocks (checksums made
    /// valid again, so the fields are parsed), truncated or followed by garbage, cut into random
    /// chunks: listing, dumping and unpacking never trap, never hang, and write nothing outside
    /// the target.
    @Test func mutatedArchivesNeverTrap() throws {
        let s = try HostileRestoreTests.Sandbox()
        let src = s.tmp.sub("src")
        let fd = open(s.tmp.sub("sparse.img"), O_CREAT | O_WRONLY, 0o644)
        for i in 0..<30 { _ = [UInt8](repeating: 7, count: 700).withUnsafeBytes { pwrite(fd, $0.baseAddress, 700, off_t(i * 40_000)) } }
        close(fd)
        Fixtures.write(src + "/" + String(repeating: "l", count: 120) + "/f", Fixtures.random(3000, seed: "f"))
        Fixtures.write(src + "/g", Fixtures.random(700, seed: "g"))
        try FileManager.default.createSymbolicLink(atPath: src + "/s", withDestinationPath: "g")
        try FileManager.default.linkItem(atPath: src + "/g", toPath: src + "/h")
        _ = Self.sh("cp --sparse=always '\(s.tmp.sub("sparse.img"))' '\(src)/'")
        var bases: [[UInt8]] = []
        for cmd in ["tar --format=gnu --sparse", "tar --format=posix --sparse", "tar --format=posix --sparse --sparse-version=0.1", "bsdtar --format=pax"] {
            #expect(Self.sh("\(cmd) -cf '\(s.tmp.sub("m.tar"))' -C '\(src)' .") == 0, "\(cmd)")
            bases.append(Fixtures.read(s.tmp.sub("m.tar")) ?? [])
        }
        var rng = SplitMix(99)
        bases.append(TarChunkingTests.build(&rng, members: 12).bytes)
        struct TooLong: Error {}
        var listed = 0, opened = 0
        for round in 0..<150 {
            var t = bases[round % bases.count]
            let headers = stride(from: 0, to: t.count - 511, by: 512).filter { o in t[o..<o + 512].withUnsafeBytes { TarHeader($0).checksumIsValid } }
            for _ in 0..<(1 + Int(rng.next() % 3)) {
                let h = headers[Int(rng.next() % UInt64(headers.count))]
                for _ in 0..<(1 + Int(rng.next() % 6)) {
                    let at = h + Int(rng.next() % 512)
                    if !(148..<156).contains(at - h) { t[at] = rng.next() % 4 == 0 ? 0x80 | UInt8(truncatingIfNeeded: rng.next()) : UInt8(truncatingIfNeeded: rng.next()) }
                }
                for i in 148..<156 { t[h + i] = 0x20 }
                let sum = t[h..<h + 512].reduce(0) { $0 + Int($1) }
                for (i, c) in String(sum, radix: 8).leftPadded(6).utf8.enumerated() { t[h + 148 + i] = c }
                t[h + 154] = 0
            }
            if round % 5 == 0 { t.removeLast(Int(rng.next() % UInt64(t.count / 2))) }
            if round % 7 == 0 { t += Fixtures.random(Int(rng.next() % 3000), seed: "junk\(round)") }
            // Random chunks.
            var ids: [ID] = [], pos = 0
            while pos < t.count {
                let n = min(t.count - pos, 1 + Int(rng.next() % 5000))
                ids.append(try s.repo.saveBlob(.data, Array(t[pos..<pos + n])).id); pos += n
            }
            try s.repo.flush()
            let node = Node(name: Array("m.tar".utf8), type: .file, mode: 0o644, size: UInt64(t.count), content: .chunks(ids))
            guard let tar = try TarStream(repository: s.repo, node: node) else { continue }
            let (members, _, _) = tar.members()
            opened += 1; listed += members.count
            for (i, m) in members.enumerated() where m.kind == .file || m.kind == .hardlink {
                var written = 0
                do {
                    let data = try TarStream.dataMember(members, i)
                    try tar.dump(data) { written += $0.count; if written > 50_000_000 { throw TooLong() } }
                } catch is TooLong {
                } catch {}
            }
            try s.watched {
                let e = TarExtractor(stream: tar, repository: s.repo, options: RestoreOptions())
                e.restorer.isRoot = false
                _ = try e.extract(under: [], target: s.target)
            }
            try FileManager.default.removeItem(atPath: s.target)
            try FileManager.default.createDirectory(atPath: s.target, withIntermediateDirectories: true)
        }
        #expect(opened > 100 && listed > 500, "\(opened) streams opened, \(listed) members listed")
    }

    // MARK: cost

    /// Listing a tar with a large member loads the chunks of its headers, not its data; dump
    /// of one member loads about that member.
    @Test func listingLoadsOnlyTheHeaders() throws {
        let tmp = TempDir()
        let src = tmp.sub("src")
        Fixtures.write(src + "/big.bin", Fixtures.random(6_000_000, seed: "big"))
        for i in 0..<20 { Fixtures.write(src + "/small\(i).txt", Array("small \(i)\n".utf8)) }
        Fixtures.write(src + "/zz-last.bin", Fixtures.random(2_000_000, seed: "last"))
        #expect(Self.sh("tar --format=posix -cf '\(tmp.sub("t.tar"))' -C '\(src)' .") == 0)
        let repoPath = try CLITests.initRepo(tmp)
        try Self.backup(repoPath, Fixtures.read(tmp.sub("t.tar")) ?? [], name: "t.tar")
        let repo = try Repository.open(backend: LocalBackend(path: repoPath), password: Array("pw".utf8))
        try repo.loadIndex()
        let snap = try repo.resolveSnapshot("latest").1
        let tar = try #require(try TarStream.open(repository: repo, snapshot: snap))
        let (members, warnings, _) = tar.members()
        #expect(members.count == 23 && warnings.isEmpty, "\(warnings)")
        let length = tar.reader.length, loaded = tar.reader.loadedBytes
        #expect(loaded * 50 < length, "listing loaded \(loaded) of \(length) bytes")
        let last = try #require(members.first { $0.path == Array("./zz-last.bin".utf8) })
        let before = tar.reader.loadedBytes
        let digest = SHA256Stream()
        try tar.dump(last) { digest.update($0) }
        #expect(digest.finish().hex == Self.sha(src + "/zz-last.bin"))
        #expect(tar.reader.loadedBytes - before < 2_000_000 + 200_000)
        // Cut plainly (headers and data sharing chunks), the members are the same: reading
        // goes by offset, whatever the cuts.
        let raw = try CLITests.cairn(["backup", "--stdin", "--stdin-filename", "t.tar", "--stream-format", "raw"], repo: repoPath,
                                     stdin: Data(Fixtures.read(tmp.sub("t.tar")) ?? []))
        #expect(raw.status == 0)
        let repo2 = try Repository.open(backend: LocalBackend(path: repoPath), password: Array("pw".utf8))
        try repo2.loadIndex()
        let plain = try #require(try TarStream.open(repository: repo2, snapshot: try repo2.resolveSnapshot("latest").1))
        #expect(plain.node.chunks != tar.node.chunks)
        let again = plain.members()
        #expect(again.warnings.isEmpty && again.members.map(\.path) == members.map(\.path) && again.members.map(\.dataOffset) == members.map(\.dataOffset))
        let digest2 = SHA256Stream()
        try plain.dump(try #require(again.members.first { $0.path == last.path })) { digest2.update($0) }
        #expect(digest2.finish().hex == Self.sha(src + "/zz-last.bin"))
    }

    // MARK: parsing

    @Test func numbersAndPaxRecords() {
        /// A 12-byte field given as text (octal) or as hex digits (base-256).
        func number(text: String = "", hex: String = "") -> Int64? {
            var field = Array(text.utf8)
            var h = Array(hex.utf8)[...]
            while h.count >= 2 { field.append(UInt8(String(decoding: h.prefix(2), as: UTF8.self), radix: 16)!); h = h.dropFirst(2) }
            var block = [UInt8](repeating: 0, count: 512)
            block.replaceSubrange(100..<(100 + field.count), with: field)
            return block.withUnsafeBytes { TarHeader($0).number(100, 12) }
        }
        func time(_ s: String) -> Int64? { TarMemberReader.time(Array(s.utf8)) }
        func pax(_ s: String) -> [String]? { TarMemberReader.paxRecords(Array(s.utf8))?.map { $0.0 + "=" + String(decoding: $0.1, as: UTF8.self) } }
        func normalized(_ s: String) -> (path: String, absolute: Bool, unsafe: Bool) {
            let n = TarPath.normalize(Array(s.utf8))
            return (String(decoding: n.joined, as: UTF8.self), n.wasAbsolute, n.unsafe)
        }
        #expect(number(text: "0000644\0") == 0o644)
        #expect(number(hex: "800000000000000000989680") == 10_000_000)
        #expect(number(hex: "fffffffffffffffffffffffe") == -2)
        #expect(number(hex: "800000010000000000000000") == nil)   // more than 64 bits
        #expect(number(hex: "800000008000000000000000") == nil)   // positive, but not as an Int64
        #expect(number(text: "12x\0") == nil)
        #expect(time("-1.5") == -1_500_000_000)
        #expect(time("1700000000.1234567899") == 1_700_000_000_123_456_789)
        #expect(time("12a") == nil)
        #expect(pax("11 path=ab\n") == ["path=ab"])
        #expect(pax("11 path=ab\n18 linkpath=a=b c\n") == ["path=ab", "linkpath=a=b c"])
        #expect(pax("12 path=ab\n") == nil)
        #expect(pax("99999999999999999999 path=ab\n") == nil)
        #expect(pax("3 x\n") == nil)
        #expect(normalized("/a/./b//c/") == ("a/b/c", true, false))
        #expect(normalized("a/../b").unsafe && !normalized("a/..b").unsafe)
    }
}

extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
