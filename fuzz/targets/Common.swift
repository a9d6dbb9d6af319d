// Shared by every fuzz target (compiled into each binary by fuzz/run.sh).
import CairnCore
import CairnCrypto
import CairnFormat
#if canImport(Glibc)
import Glibc
#endif

/// Stops the run with a message libFuzzer reports as a crash, saving the input.
func fuzzFail(_ message: String) -> Never {
    var line = "FUZZ INVARIANT BROKEN: \(message)\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    abort()
}

/// The fuzzer's input as an array (the decoders take [UInt8]).
func fuzzBytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}

/// When CAIRN_FUZZ_WRITE_SEEDS names a folder, writes `seeds` there as seed-NN files, and the
/// inputs `vectors` makes from the test-vector repository (see `VectorRepo`) as vector-NN, and
/// exits. Called from LLVMFuzzerInitialize, so `out/fuzz-X` regenerates fuzz/corpus/X (see
/// run.sh --seeds).
func writeSeedsIfAsked(_ seeds: [[UInt8]], vectors: (VectorRepo) -> [[UInt8]] = { _ in [] }) {
    guard let dirC = getenv("CAIRN_FUZZ_WRITE_SEEDS") else { return }
    let dir = String(cString: dirC)
    func write(_ list: [[UInt8]], _ prefix: String) {
        for (i, seed) in list.enumerated() {
            let path = dir + "/" + prefix + "-" + (i < 10 ? "0" : "") + String(i)
            guard let f = fopen(path, "wb") else { fuzzFail("cannot write \(path)") }
            _ = seed.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
            fclose(f)
        }
    }
    write(seeds, "seed")
    var fromVectors: [[UInt8]] = []
    if let vecC = getenv("CAIRN_FUZZ_VECTORS") {
        fromVectors = vectors(VectorRepo(folder: String(cString: vecC)))
        write(fromVectors, "vector")
    }
    print("wrote \(seeds.count) seeds and \(fromVectors.count) from the vector repository to \(dir)")
    exit(0)
}

/// The test-vector repository (format-spec/vectors/: repo.json and repo/, built by
/// CairnVectorsBuilder/TestVectors.swift), opened with the password repo.json records, with every file
/// decrypted: real bytes written by the real writer, for seeds. Fails the seed run loudly if
/// anything does not open (the vectors changed shape).
struct VectorRepo {
    /// keys/*: the key files as stored (plaintext JSON).
    var keyFiles: [[UInt8]] = []
    /// config, snapshots/*, index/*: type, envelope plaintext (flag byte + payload as stored)
    /// and payload (decompressed).
    var envelopes: [(type: FileType, plaintext: [UInt8], payload: [UInt8])] = []
    /// data/*/*: each pack's plain header.
    var packHeaders: [[UInt8]] = []
    /// Every blob in the packs: entry, the AEAD-opened payload (a zstd frame if the entry says
    /// so) and the plaintext.
    var blobs: [(entry: BlobEntry, payload: [UInt8], plain: [UInt8])] = []

    /// The payloads of the envelopes of one type.
    func payloads(_ type: FileType) -> [[UInt8]] { envelopes.filter { $0.type == type }.map(\.payload) }
    var treeBlobs: [[UInt8]] { blobs.filter { $0.entry.type == .tree }.map(\.plain) }

    init(folder: String) {
        // "password" : "..." (the test password has no escapes).
        let json = readFile(folder + "/repo.json"), tag = Array("\"password\" : \"".utf8)
        guard let at = (0...(json.count - tag.count)).first(where: { json[$0..<$0 + tag.count].elementsEqual(tag) }),
              let end = json[(at + tag.count)...].firstIndex(of: UInt8(ascii: "\"")) else { fuzzFail("no password in repo.json") }
        let password = Array(json[(at + tag.count)..<end])
        let repo = folder + "/repo"
        var key: MasterKey?
        for name in listFolder(repo + "/keys") {
            let bytes = readFile(repo + "/keys/" + name)
            keyFiles.append(bytes)
            do { key = try KeyFile.decode(bytes).open(password: password) } catch { fuzzFail("vector key \(name): \(error)") }
        }
        guard let key else { fuzzFail("no key file in \(repo)/keys") }
        func openEnvelope(_ path: String, _ type: FileType) {
            let sealed = readFile(path)
            do {
                envelopes.append((type, try key.aead.open(sealed, aad: Envelope.aad(type), what: path),
                                  try Envelope.open(sealed, type: type, key: key)))
            } catch { fuzzFail("vector \(path): \(error)") }
        }
        openEnvelope(repo + "/config", .config)
        for name in listFolder(repo + "/snapshots") { openEnvelope(repo + "/snapshots/" + name, .snapshot) }
        for name in listFolder(repo + "/index") { openEnvelope(repo + "/index/" + name, .index) }
        for sub in listFolder(repo + "/data") {
            for name in listFolder(repo + "/data/" + sub) {
                let pack = readFile(repo + "/data/" + sub + "/" + name)
                do {
                    let header = try PackHeader.parse(pack: pack, key: key)
                    packHeaders.append(header.encodePlain())
                    for e in header.entries {
                        let stored = Array(pack[Int(e.offset)..<Int(e.offset) + Int(e.storedLength)])
                        let payload = try key.aead.open(stored, aad: BlobCodec.aad(type: e.type, id: e.id), what: "blob")
                        let plain = try stored.withUnsafeBytes { try BlobCodec.open($0, entry: e, key: key) }
                        blobs.append((e, payload, plain))
                    }
                } catch { fuzzFail("vector pack \(name): \(error)") }
            }
        }
    }
}

/// A whole file's bytes (fails the run if it cannot be read).
func readFile(_ path: String) -> [UInt8] {
    guard let f = fopen(path, "rb") else { fuzzFail("cannot read \(path)") }
    defer { fclose(f) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buf.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
        if n <= 0 { break }
        out += buf[0..<n]
    }
    return out
}

/// The names in a folder (no dot files), sorted; empty if it does not exist.
func listFolder(_ path: String) -> [String] {
    guard let d = opendir(path) else { return [] }
    defer { closedir(d) }
    var names: [String] = []
    while let ent = readdir(d) {
        let name = withUnsafePointer(to: &ent.pointee.d_name) {
            String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
        }
        if !name.hasPrefix(".") { names.append(name) }
    }
    return names.sorted()
}

/// A deterministic ID for seeds: byte i = seed &+ i.
func seedID(_ seed: UInt8) -> [UInt8] { (0..<32).map { seed &+ UInt8($0) } }

/// Reads CAIRN_FUZZ_STRICT once: when set, targets also check rules the format documents but
/// the decoders do not enforce (reported separately; off by default so fuzzing goes on).
let fuzzStrict: Bool = getenv("CAIRN_FUZZ_STRICT") != nil
