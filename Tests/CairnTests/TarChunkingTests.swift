import CairnChunking
import CairnCore
import CairnCrypto
import Foundation
import Testing

/// Tar-aware cuts (spec §13.4): real archives from GNU tar, bsdtar and Python's tarfile restore
/// byte-exact through the CLI, headers and data start chunks, and anything else is cut plainly.
@Suite(.serialized) struct TarChunkingTests {
    static let cdc = FastCDC(parameters: .init(min: 256, avg: 1024, max: 4096), gear: GearTable.derive(chunkerKey: Array(repeating: 5, count: 32)))

    /// Cut points (chunk end offsets) of `data`, read in pieces of random sizes.
    static func cuts(_ data: [UInt8], _ format: StreamFormat, seed: UInt64 = 1, cdc: FastCDC = cdc) -> (cuts: [Int], cutter: TarCutter) {
        var cutter = TarCutter(cdc: cdc, format: format)
        var rng = SplitMix(seed), pos = 0, end = 0
        var points: [Int] = []
        try! StreamChunker(cdc: cdc).run(cutter: &cutter, read: { buf in
            let n = Swift.min(buf.count, data.count - pos, 1 + Int(rng.next() % 70_000))
            data.withUnsafeBytes { buf.baseAddress!.copyMemory(from: $0.baseAddress! + pos, byteCount: n) }
            pos += n
            return n
        }, chunk: { c in
            #expect(c.elementsEqual(data[end..<(end + c.count)]))
            end += c.count; points.append(end)
        })
        #expect(end == data.count)
        return (points, cutter)
    }

    // MARK: archives made by real tools

    /// A source tree with what archivers treat specially: long paths, non-ASCII names, symlinks,
    /// hardlinks, an empty file, a sparse file with many holes, files across chunk sizes.
    static func sourceTree(_ tmp: TempDir) throws -> String {
        let root = tmp.sub("src")
        let long = root + "/" + String(repeating: "d", count: 60) + "/" + String(repeating: "e", count: 60) + "/file-with-a-long-name-" + String(repeating: "f", count: 40)
        Fixtures.write(long, Fixtures.random(5000, seed: "long"))
        Fixtures.write(root + "/small.txt", Array("hello tar\n".utf8))
        Fixtures.write(root + "/empty", [])
        Fixtures.write(root + "/big.bin", Fixtures.random(300_000, seed: "big"))
        Fixtures.write(root + "/aligned.bin", Fixtures.random(4096, seed: "aligned"))
        Fixtures.write(root + "/Grüße-日本語.txt", Array("non-ascii\n".utf8))
        try FileManager.default.createSymbolicLink(atPath: root + "/link", withDestinationPath: "small.txt")
        try FileManager.default.linkItem(atPath: root + "/big.bin", toPath: root + "/hard.bin")
        try FileManager.default.createDirectory(atPath: root + "/emptydir", withIntermediateDirectories: true)
        // Ten data runs 256 KiB apart: more than a GNU 'S' header's four entries.
        let fd = open(root + "/sparse.img", O_CREAT | O_WRONLY, 0o644)
        for i in 0..<10 {
            let run = Fixtures.random(1000, seed: "sparse\(i)")
            _ = run.withUnsafeBytes { pwrite(fd, $0.baseAddress, run.count, off_t(i * 262_144)) }
        }
        _ = ftruncate(fd, 10 * 262_144)
        close(fd)
        return root
    }

    static func sh(_ script: String) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script]
        try! p.run(); p.waitUntilExit()
        return p.terminationStatus
    }

    static let pythonWriter = """
    import os, sys, tarfile
    fmt = {"gnu": tarfile.GNU_FORMAT, "pax": tarfile.PAX_FORMAT, "ustar": tarfile.USTAR_FORMAT}[sys.argv[1]]
    src, out = sys.argv[2], sys.argv[3]
    with tarfile.open(out, "w", format=fmt, encoding="utf-8") as t:
        for dirpath, dirs, files in sorted(os.walk(src)):
            dirs.sort()
            for n in [dirpath] + [os.path.join(dirpath, f) for f in sorted(files)]:
                name = os.path.relpath(n, src)
                if fmt == tarfile.USTAR_FORMAT and len(os.path.basename(name)) > 100: continue
                t.add(n, arcname=name, recursive=False)
        if fmt == tarfile.PAX_FORMAT:
            info = tarfile.TarInfo("pax-ünïcödé-" + "x" * 120)
            info.pax_headers = {"comment": "ω" * 300}
            data = b"pax data\\n" * 100
            info.size = len(data)
            import io
            t.addfile(info, io.BytesIO(data))
    """

    /// Members' header offsets and data offsets as Python's tarfile reads them (the oracle).
    static let pythonOffsets = """
    import sys, tarfile
    with tarfile.open(sys.argv[1], "r:") as t:
        for m in t:
            data = (m.isreg() and m.size > 0) and (m.type == tarfile.GNUTYPE_SPARSE or not m.issparse())
            print(m.offset, m.offset_data if data else -1)
    """

    /// Every archive: tool, command producing `OUT` from `SRC`.
    static func archives(_ tmp: TempDir, _ src: String) -> [(String, [UInt8])] {
        let py = tmp.sub("w.py")
        try! pythonWriter.write(toFile: py, atomically: true, encoding: .utf8)
        var list: [(String, String)] = []
        for f in ["gnu", "posix", "ustar"] {
            list.append(("gnu tar --format=\(f)", "tar --format=\(f) -cf OUT -C SRC . 2>/dev/null; true"))
        }
        list.append(("gnu tar --format=gnu --sparse", "tar --format=gnu --sparse -cf OUT -C SRC ."))
        list.append(("gnu tar --format=posix --sparse", "tar --format=posix --sparse -cf OUT -C SRC ."))
        for f in ["ustar", "pax", "gnutar"] {
            list.append(("bsdtar --format=\(f)", "bsdtar --format=\(f) -cf OUT -C SRC . 2>/dev/null; true"))
        }
        for f in ["gnu", "pax", "ustar"] {
            list.append(("python tarfile \(f)", "python3 '\(py)' \(f) SRC OUT"))
        }
        return list.enumerated().map { i, e in
            let out = tmp.sub("a\(i).tar")
            let cmd = e.1.replacingOccurrences(of: "OUT", with: "'\(out)'").replacingOccurrences(of: "SRC", with: "'\(src)'")
            #expect(sh(cmd) == 0, "\(e.0)")
            let bytes = Fixtures.read(out) ?? []
            #expect(bytes.count > 10_000, "\(e.0) made no archive")
            return (e.0, bytes)
        }
    }

    @Test func realArchivesAreCutAtEveryMemberAndRestoreByteExact() throws {
        let tmp = TempDir()
        let src = try Self.sourceTree(tmp)
        let repo = try CLITests.initRepo(tmp)
        let oracle = tmp.sub("o.py")
        try Self.pythonOffsets.write(toFile: oracle, atomically: true, encoding: .utf8)
        var sawExtendedSparse = false
        for (i, (tool, bytes)) in Self.archives(tmp, src).enumerated() {
            // Cut points: each header group and each member's data starts a chunk.
            let (cuts, cutter) = Self.cuts(bytes, .auto, seed: UInt64(i))
            #expect(cutter.isTar, "\(tool)")
            #expect(cutter.notice == nil, "\(tool): \(cutter.notice ?? "")")
            #expect(cutter.endOfArchive != nil, "\(tool)")
            let starts = Set([0] + cuts)
            let p = Process(), pipe = Pipe()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["python3", oracle, tmp.sub("a\(i).tar")]
            p.standardOutput = pipe
            try p.run()
            let lines = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n")
            p.waitUntilExit()
            #expect(lines.count >= 10, "\(tool)")
            for l in lines {
                let f = l.split(separator: " ").map { Int($0)! }
                #expect(starts.contains(f[0]), "\(tool): no chunk starts at the header at \(f[0])")
                if f[1] >= 0 { #expect(starts.contains(f[1]), "\(tool): no chunk starts at the data at \(f[1])") }
            }
            if tool.contains("gnu --sparse") { sawExtendedSparse = bytes.withUnsafeBytes { b in (0..<(b.count / 512)).contains { b[$0 * 512 + 156] == 0x53 && b[$0 * 512 + 482] != 0 } } }
            // Through the CLI: dump gives the identical stream.
            let name = "s\(i).tar"
            let r = try CLITests.cairn(["backup", "--stdin", "--stdin-filename", name], repo: repo, stdin: Data(bytes))
            #expect(r.status == 0 && !r.err.contains("warning"), "\(tool): \(r.err)")
            #expect(Self.sh("CAIRN_PASSWORD=pw '\(CLITests.binary)' -r '\(repo)' --no-cache dump latest \(name) > '\(tmp.sub("d.tar"))'") == 0)
            #expect(SHA256.hash(Fixtures.read(tmp.sub("d.tar")) ?? []) == SHA256.hash(bytes), "\(tool): dump differs")
        }
        #expect(sawExtendedSparse, "GNU tar wrote no extended sparse header")
        #expect(try CLITests.cairn(["check", "--read-data"], repo: repo).status == 0)
    }

    // MARK: built streams

    /// A tar built here: members with random sizes, some with GNU long names or pax records.
    struct Built {
        var bytes: [UInt8] = []
        var groupStarts: [Int] = []
        var dataStarts: [Int] = []
        /// Padded data size of each data start.
        var dataSizes: [Int: Int] = [:]
        var end = 0
    }

    static func header(_ name: String, size: Int, type: UInt8, mtime: Int = 0o14000000000, gnu: Bool = false) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ off: Int, _ s: String) { for (i, b) in s.utf8.enumerated() { h[off + i] = b } }
        put(0, String(name.prefix(99)))
        put(100, "0000644"); put(108, "0001750"); put(116, "0001750")
        put(124, String(format: "%011o", size)); put(136, String(format: "%011o", mtime))
        h[156] = type
        if gnu { put(257, "ustar  ") } else { put(257, "ustar"); put(263, "00") }
        for i in 148..<156 { h[i] = 0x20 }
        put(148, String(format: "%06o", h.reduce(0) { $0 + Int($1) })); h[154] = 0
        return h
    }

    static func padded(_ d: [UInt8]) -> [UInt8] { d + [UInt8](repeating: 0, count: (512 - d.count % 512) % 512) }

    static func build(_ rng: inout SplitMix, members: Int, mtime: Int = 0o14000000000) -> Built {
        var t = Built()
        for m in 0..<members {
            t.groupStarts.append(t.bytes.count)
            let name = "member-\(m)-" + String(repeating: "n", count: Int(rng.next() % 150))
            switch rng.next() % 3 {
            case 0 where name.utf8.count > 99:
                t.bytes += header("././@LongLink", size: name.utf8.count + 1, type: 0x4C, gnu: true) + padded(Array(name.utf8) + [0])
            case 1:
                let rec = Array("30 mtime=1700000000.123456789\n".utf8)
                t.bytes += header("PaxHeader/m", size: rec.count, type: 0x78) + padded(rec)
            default: break
            }
            let sizes = [0, 1, 100, 511, 512, 513, 255, 257, 4096, 5000, 20_000]
            let size = rng.next() % 2 == 0 ? sizes[Int(rng.next() % UInt64(sizes.count))] : Int(rng.next() % 40_000)
            let dir = size == 0 && rng.next() % 2 == 0
            t.bytes += header(name, size: dir ? 0 : size, type: dir ? 0x35 : 0x30, mtime: mtime)
            if size > 0 && !dir {
                t.dataStarts.append(t.bytes.count)
                t.dataSizes[t.bytes.count] = (size + 511) / 512 * 512
                var seeded = SplitMix(UInt64(m) &* 7919 &+ UInt64(size))
                t.bytes += padded((0..<size).map { _ in UInt8(truncatingIfNeeded: seeded.next()) })
            }
        }
        t.end = t.bytes.count
        t.bytes += [UInt8](repeating: 0, count: 1024 + 512 * Int(rng.next() % 18))
        return t
    }

    @Test func headerGroupsAndMemberDataStartChunks() {
        var rng = SplitMix(42)
        let t = Self.build(&rng, members: 60)
        let (cuts, cutter) = Self.cuts(t.bytes, .auto)
        let starts = Set([0] + cuts)
        for g in t.groupStarts { #expect(starts.contains(g), "header group at \(g)") }
        for d in t.dataStarts { #expect(starts.contains(d), "data at \(d)") }
        #expect(cutter.endOfArchive == UInt64(t.end))
        #expect(cutter.notice == nil)
        // Header groups are one chunk each: the chunk from a group start ends at a data start
        // or at the next group.
        let boundaries = Set(t.groupStarts + t.dataStarts + [t.end])
        for g in t.groupStarts {
            let i = cuts.firstIndex { $0 > g }!
            #expect(boundaries.contains(cuts[i]))
        }
        // Member data is cut like a stream of its own: a member's chunks do not depend on
        // what precedes it.
        var copy = t.bytes
        copy.replaceSubrange(0..<0, with: Self.header("prefix", size: 3000, type: 0x30) + Self.padded(Array(repeating: 9, count: 3000)))
        let shifted = Set(Self.cuts(copy, .auto).cuts.map { $0 - 512 - 3072 })
        let inside = cuts.filter { $0 < t.end }
        #expect(inside.allSatisfy { shifted.contains($0) })
    }

    /// With `min` of 4 KiB (spec §13.4): a member of at most min/4 = 1 KiB is one chunk with
    /// its header group; larger members' data starts a chunk of its own.
    @Test func smallMembersShareTheirHeadersChunk() {
        let big = FastCDC(parameters: .init(min: 4096, avg: 8192, max: 16384), gear: Self.cdc.gear)
        var rng = SplitMix(99)
        let t = Self.build(&rng, members: 120)
        let (cuts, cutter) = Self.cuts(t.bytes, .auto, cdc: big)
        #expect(cutter.notice == nil && cutter.endOfArchive == UInt64(t.end))
        let starts = Set([0] + cuts)
        var merged = 0, alone = 0
        for g in t.groupStarts { #expect(starts.contains(g), "header group at \(g)") }
        for d in t.dataStarts {
            let size = t.dataSizes[d]!
            let group = t.groupStarts.last { $0 < d }!
            if size <= 1024 && d - group + size <= 16384 {
                merged += 1
                #expect(!starts.contains(d), "small member data at \(d) starts a chunk")
                #expect(starts.contains(d + size), "small member at \(d) does not end its chunk")
            } else {
                alone += 1
                #expect(starts.contains(d), "data at \(d)")
            }
        }
        #expect(merged >= 20 && alone >= 20, "merged \(merged), alone \(alone)")
        // A new version where every mtime changed re-stores the header groups and the small
        // members' data, and nothing of the larger members.
        var r2 = SplitMix(99)
        let v2 = Self.build(&r2, members: 120, mtime: 0o14000000777).bytes
        func chunks(_ d: [UInt8]) -> [[UInt8]] {
            var prev = 0
            return Self.cuts(d, .auto, cdc: big).cuts.map { c in defer { prev = c }; return Array(d[prev..<c]) }
        }
        let old = Set(chunks(t.bytes).map { SHA256.hash($0) })
        let added = chunks(v2).filter { !old.contains(SHA256.hash($0)) }.reduce(0) { $0 + $1.count }
        let smallData = t.dataStarts.reduce(0) { sum, d in
            let size = t.dataSizes[d]!, group = t.groupStarts.last { $0 < d }!
            return sum + (size <= 1024 && d - group + size <= 16384 ? size : 0)
        }
        let bigData = t.dataStarts.reduce(0) { $0 + t.dataSizes[$1]! } - smallData
        let expected = t.end - bigData
        #expect(added == expected, "re-stored \(added) bytes, header groups and small members are \(expected)")
    }

    /// A member whose size is in a pax record (as writers do from 8 GiB, leaving the header's
    /// field 0) is cut by that size: its data starts a chunk and the next member is found.
    @Test func aPaxSizeRecordOverridesTheHeaderField() {
        let rec = Array("15 size=300000\n".utf8)
        let data = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        var t = Self.header("PaxHeader/big", size: rec.count, type: 0x78) + Self.padded(rec)
        let dataStart = t.count + 512
        t += Self.header("big", size: 0, type: 0x30) + Self.padded(data)
        let next = t.count
        t += Self.header("after", size: 5, type: 0x30) + Self.padded(Array("hello".utf8))
        let end = t.count
        t += [UInt8](repeating: 0, count: 1024)
        let (cuts, cutter) = Self.cuts(t, .auto)
        #expect(cutter.notice == nil, "\(cutter.notice ?? "")")
        #expect(cutter.endOfArchive == UInt64(end))
        let starts = Set([0] + cuts)
        #expect(starts.contains(dataStart) && starts.contains(next))
        var bad = Array("15 size=30x000\n".utf8)
        #expect(bad.withUnsafeBytes { TarHeader.paxSize($0) } == .invalid(Array("30x000".utf8)))
        bad = Array("8 a=bcd\n15 size=123456\n".utf8)
        #expect(bad.withUnsafeBytes { TarHeader.paxSize($0) } == .valid(123_456))
        bad = Array("99 size=1\n".utf8)
        #expect(bad.withUnsafeBytes { TarHeader.paxSize($0) } == TarHeader.PaxSize.none)
    }

    @Test func randomAndCorruptedStreamsRoundTripAndNeverTrap() {
        var rng = SplitMix(7)
        for round in 0..<60 {
            var t = Self.build(&rng, members: 1 + Int(rng.next() % 12)).bytes
            if round % 4 != 0 {   // corrupt at a random offset
                let at = Int(rng.next() % UInt64(t.count))
                for i in at..<Swift.min(t.count, at + 1 + Int(rng.next() % 600)) { t[i] = UInt8(truncatingIfNeeded: rng.next()) }
            }
            if round % 3 == 0 { t.removeLast(Int(rng.next() % UInt64(t.count))) }   // truncate
            t += (0..<Int(rng.next() % 9000)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }   // trailing garbage
            for format in [StreamFormat.auto, .tar] {
                let a = Self.cuts(t, format, seed: UInt64(round)).cuts
                // Independent of how the stream was read, chunk sizes within bounds.
                #expect(a == Self.cuts(t, format, seed: UInt64(round) + 1000).cuts)
                var prev = 0
                for c in a { #expect(c - prev <= Self.cdc.parameters.max && c > prev); prev = c }
            }
        }
    }

    @Test func aStreamThatIsNotTarIsCutLikePlainFastCDC() {
        let data = Fixtures.random(400_000, seed: "not tar")
        let plain = StreamChunker(cdc: Self.cdc).cutPoints(data)
        let (auto, cutter) = Self.cuts(data, .auto)
        #expect(auto == plain)
        #expect(!cutter.isTar && cutter.notice == nil)
        #expect(Self.cuts(data, .raw).cuts == plain)
        let (forced, f) = Self.cuts(data, .tar)
        #expect(forced == plain)
        #expect(f.notice == "not a tar stream from byte 0: plain chunking for the rest")
        // A tar that turns into garbage: the notice names the first bad header.
        var rng = SplitMix(3)
        let t = Self.build(&rng, members: 5)
        let broken = Array(t.bytes[0..<t.end]) + data
        let (_, b) = Self.cuts(broken, .auto)
        #expect(b.notice == "not a tar stream from byte \(t.end): plain chunking for the rest")
        // Files are never cut tar-aware: raw stays plain even for a tar.
        #expect(Self.cuts(t.bytes, .raw).cuts == StreamChunker(cdc: Self.cdc).cutPoints(t.bytes))
    }

    /// `--stream-format tar` asks of the first block only what every header passes (checksum
    /// and size, spec §13.4 "Detection"): a first header without the ustar magic that is not a
    /// v7 header either is cut as tar, as under auto a stream with the magic is; auto cuts it
    /// plainly.
    @Test func aForcedTarNeedsNoMagicInItsFirstHeader() {
        var rng = SplitMix(7)
        let t = Self.build(&rng, members: 30)
        var odd = t.bytes
        for i in 257..<263 { odd[i] = 0 }          // no magic
        odd[263] = 0x30; odd[264] = 0x30          // a version: not a v7 header either
        for i in 148..<156 { odd[i] = 0x20 }
        let sum = odd[0..<512].reduce(0) { $0 + Int($1) }
        for (i, b) in String(format: "%06o", sum).utf8.enumerated() { odd[148 + i] = b }
        odd[154] = 0
        odd.withUnsafeBytes { b in
            let h = TarHeader(UnsafeRawBufferPointer(rebasing: b[0..<512]))
            #expect(h.checksumIsValid && h.size != nil && !h.hasUstarMagic && !h.isPlausibleFirst)
        }
        let (forced, f) = Self.cuts(odd, .tar)
        #expect(forced == Self.cuts(t.bytes, .auto).cuts)
        #expect(f.isTar && f.notice == nil && f.endOfArchive == UInt64(t.end))
        let (auto, a) = Self.cuts(odd, .auto)
        #expect(auto == StreamChunker(cdc: Self.cdc).cutPoints(odd))
        #expect(!a.isTar && a.notice == nil)
    }

    @Test func aNewVersionWithOtherMtimesAddsLittle() {
        var r1 = SplitMix(11), r2 = SplitMix(11)
        let v1 = Self.build(&r1, members: 80, mtime: 0o14000000000).bytes
        let v2 = Self.build(&r2, members: 80, mtime: 0o14000000777).bytes
        func newBytes(_ f: StreamFormat) -> Int {
            func chunks(_ d: [UInt8]) -> [ArraySlice<UInt8>] {
                var prev = 0
                return Self.cuts(d, f).cuts.map { c in defer { prev = c }; return d[prev..<c] }
            }
            let old = Set(chunks(v1).map { SHA256.hash(Array($0)) })
            return chunks(v2).filter { !old.contains(SHA256.hash(Array($0))) }.reduce(0) { $0 + $1.count }
        }
        // Every member header changed: tar-aware re-stores exactly the header groups.
        var r3 = SplitMix(11)
        let t = Self.build(&r3, members: 80)
        let groups = t.groupStarts.indices.reduce(0) { sum, i in
            let next = t.dataStarts.first { $0 > t.groupStarts[i] } ?? t.end
            let following = i + 1 < t.groupStarts.count ? t.groupStarts[i + 1] : t.end
            return sum + Swift.min(next, following) - t.groupStarts[i]
        }
        let tar = newBytes(.tar), raw = newBytes(.raw)
        #expect(tar == groups, "tar-aware re-stored \(tar) bytes, header groups are \(groups)")
        #expect(tar * 3 < raw * 2, "tar-aware \(tar) vs plain \(raw)")
    }

    @Test func theCLIChecksItsStreamFormat() throws {
        let tmp = TempDir()
        let repo = try CLITests.initRepo(tmp)
        let junk = Data(Fixtures.random(100_000, seed: "junk"))
        let forced = try CLITests.cairn(["backup", "--stdin", "--stream-format", "tar"], repo: repo, stdin: junk)
        #expect(forced.status == 0)
        #expect(forced.err.contains("warning: not a tar stream from byte 0: plain chunking for the rest"))
        let auto = try CLITests.cairn(["backup", "--stdin"], repo: repo, stdin: junk)
        #expect(auto.status == 0 && auto.err.isEmpty, "\(auto.err)")
        Fixtures.write(tmp.sub("f"), [1])
        #expect(try CLITests.cairn(["backup", "--stream-format", "raw", tmp.sub("f")], repo: repo).status != 0)
        // (no stdin: cairn exits before reading it, and writing would raise SIGPIPE here)
        #expect(try CLITests.cairn(["backup", "--stdin", "--stream-format", "zip"], repo: repo).status != 0)
    }
}

