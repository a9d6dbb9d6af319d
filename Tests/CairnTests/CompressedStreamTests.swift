import CairnCompression
import CairnCore
import CairnCrypto
import Foundation
import Testing

/// Compressed streams (issue 6): gzip, zstd and xz are noticed, and with `--decompress`
/// stored decompressed, cut tar-aware and dumped decompressed; damaged or trailing input
/// fails the backup instead of losing bytes.
@Suite(.serialized) struct CompressedStreamTests {
    /// A tar of `files` text files, with one of them changed in `version`.
    static func tarBytes(_ tmp: TempDir, version: Int) -> [UInt8] {
        let src = tmp.sub("src\(version)")
        for i in 0..<40 {
            var text = (0..<(200 + i * 40)).map { "line \($0) of file \(i) " }.joined(separator: "\n")
            if i == 7 { text += "\nversion \(version)" }
            Fixtures.write(src + "/f\(i).txt", Array(text.utf8))
        }
        let out = tmp.sub("v\(version).tar")
        #expect(TarChunkingTests.sh("tar --mtime=@1700000000 --sort=name -cf '\(out)' -C '\(src)' .") == 0)
        return Fixtures.read(out) ?? []
    }

    static func compress(_ tool: String, _ input: String) -> [UInt8] {
        let out = input + "." + tool
        #expect(TarChunkingTests.sh("\(tool) -c '\(input)' > '\(out)'") == 0, "\(tool) is needed (scripts/deps.sh --test)")
        return Fixtures.read(out) ?? []
    }

    static func dump(_ repo: String, _ tmp: TempDir, _ args: String) -> [UInt8] {
        let out = tmp.sub("dump.out")
        #expect(TarChunkingTests.sh("CAIRN_PASSWORD=pw '\(CLITests.binary)' -r '\(repo)' --no-cache dump \(args) > '\(out)'") == 0)
        return Fixtures.read(out) ?? []
    }

    @Test(arguments: [("gzip", "gz"), ("zstd", "zst"), ("xz", "xz")])
    func compressedStreamsAreNoticedAndDecompressedOnRequest(tool: String, suffix: String) throws {
        let tmp = TempDir()
        let repo = try CLITests.initRepo(tmp)
        var plain: [[UInt8]] = [], packed: [[UInt8]] = []
        for v in 0..<2 {
            plain.append(Self.tarBytes(tmp, version: v))
            packed.append(Self.compress(tool, tmp.sub("v\(v).tar")))
        }
        // Without --decompress: stored as it came, with a notice naming the format.
        let asIs = try CLITests.cairn(["backup", "--stdin", "--stdin-filename", "p.tar.\(suffix)"], repo: repo, stdin: Data(packed[0]))
        #expect(asIs.status == 0, "\(asIs.err)")
        #expect(asIs.err.contains("the stream is \(tool)-compressed") && asIs.err.contains("--decompress"), "\(asIs.err)")
        #expect(SHA256.hash(Self.dump(repo, tmp, "latest p.tar.\(suffix)")) == SHA256.hash(packed[0]))
        // With it: stored decompressed under the name without the suffix, dumped decompressed.
        var added: [UInt64] = []
        for v in 0..<2 {
            let r = try CLITests.cairn(["backup", "--json", "--stdin", "--decompress", "--stdin-filename", "p.tar.\(suffix)"], repo: repo, stdin: Data(packed[v]))
            #expect(r.status == 0 && !r.err.contains("warning"), "\(r.err)")
            let summary = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]
            added.append(((summary?["summary"] as? [String: Any])?["bytes_added"] as? NSNumber)?.uint64Value ?? 0)
            #expect(SHA256.hash(Self.dump(repo, tmp, "latest p.tar")) == SHA256.hash(plain[v]), "\(tool) v\(v): dump differs")
        }
        let snaps = try CLITests.cairn(["snapshots", "--json"], repo: repo)
        let list = try JSONSerialization.jsonObject(with: Data(snaps.out.utf8)) as? [[String: Any]] ?? []
        let formats = list.map { ($0["snapshot"] as? [String: Any])?["stream_decompressed"] as? String }
        #expect(formats == [nil, tool, tool], "\(snaps.out)")
        // Decompressed, the second version shares the unchanged members with the first.
        #expect(added[1] * 4 < added[0], "\(tool): version 2 added \(added[1]) bytes, version 1 \(added[0])")
        #expect(try CLITests.cairn(["check", "--read-data"], repo: repo).status == 0)
    }

    @Test func concatenatedMembersDecompressWhole() throws {
        let tmp = TempDir()
        let repo = try CLITests.initRepo(tmp)
        let a = Fixtures.random(300_000, seed: "a"), b = Array(repeating: UInt8(7), count: 200_000)
        Fixtures.write(tmp.sub("a"), a); Fixtures.write(tmp.sub("b"), b)
        for tool in ["gzip", "zstd", "xz"] {
            let both = Self.compress(tool, tmp.sub("a")) + Self.compress(tool, tmp.sub("b"))
            let r = try CLITests.cairn(["backup", "--stdin", "--decompress", "--stdin-filename", "ab"], repo: repo, stdin: Data(both))
            #expect(r.status == 0, "\(tool): \(r.err)")
            #expect(SHA256.hash(Self.dump(repo, tmp, "latest ab")) == SHA256.hash(a + b), "\(tool): members lost")
        }
    }

    @Test func damagedOrTrailingInputFailsWithoutASnapshot() throws {
        let tmp = TempDir()
        let repo = try CLITests.initRepo(tmp)
        let data = Fixtures.random(200_000, seed: "d")
        Fixtures.write(tmp.sub("d"), data)
        for tool in ["gzip", "zstd", "xz"] {
            let packed = Self.compress(tool, tmp.sub("d"))
            let cases: [(String, [UInt8], String)] = [
                ("truncated", Array(packed.prefix(packed.count / 2)), "truncated"),
                ("trailing", packed + Array("not compressed at all".utf8), tool == "gzip" ? "follow the gzip stream" : "followed by other bytes"),
            ]
            for (what, bytes, message) in cases {
                let r = try CLITests.cairn(["backup", "--stdin", "--decompress"], repo: repo, stdin: Data(bytes))
                #expect(r.status != 0, "\(tool) \(what): backup succeeded")
                #expect(r.err.contains(message) && r.err.contains("no snapshot was saved"), "\(tool) \(what): \(r.err)")
            }
        }
        let none = try CLITests.cairn(["snapshots", "--json"], repo: repo).out
        #expect((try JSONSerialization.jsonObject(with: Data(none.utf8)) as? [Any])?.isEmpty == true, "\(none)")
        // bzip2 is noticed but not decompressed here.
        let bz = Self.compress("bzip2", tmp.sub("d"))
        let r = try CLITests.cairn(["backup", "--stdin", "--decompress"], repo: repo, stdin: Data(bz))
        #expect(r.status != 0 && r.err.contains("bzip2 -dc"), "\(r.err)")
        let noted = try CLITests.cairn(["backup", "--stdin"], repo: repo, stdin: Data(bz))
        #expect(noted.status == 0 && noted.err.contains("bzip2-compressed") && !noted.err.contains("--decompress"), "\(noted.err)")
    }

    /// The decompressor fed in random pieces into random small buffers gives the same bytes.
    @Test func decompressorIsIndependentOfBufferSizes() throws {
        let tmp = TempDir()
        let data = Fixtures.random(150_000, seed: "p") + Array(repeating: 1, count: 100_000)
        Fixtures.write(tmp.sub("p"), data)
        var rng = SplitMix(5)
        for (tool, format) in [("gzip", StreamCompression.gzip), ("zstd", .zstd), ("xz", .xz)] {
            let packed = Self.compress(tool, tmp.sub("p"))
            #expect(packed.withUnsafeBytes { StreamCompression.detect($0) } == format)
            for _ in 0..<5 {
                let d = try StreamDecompressor(format)
                var out: [UInt8] = [], pos = 0
                var buf = [UInt8](repeating: 0, count: 70_000)
                while true {
                    let take = Swift.min(packed.count - pos, 1 + Int(rng.next() % 9000))
                    let room = 1 + Int(rng.next() % 65_000)
                    let (t, w) = try packed.withUnsafeBytes { p in
                        try buf.withUnsafeMutableBytes { b in
                            try d.decompress(UnsafeRawBufferPointer(rebasing: p[pos..<(pos + take)]), endOfInput: pos + take == packed.count,
                                             into: UnsafeMutableRawBufferPointer(rebasing: b[0..<room]))
                        }
                    }
                    pos += t; out += buf[0..<w]
                    if pos == packed.count && w == 0 { break }
                }
                #expect(out.count == data.count && SHA256.hash(out) == SHA256.hash(data), "\(tool)")
            }
        }
    }
}
