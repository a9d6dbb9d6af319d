// Shared by every fuzz target (compiled into each binary by fuzz/run.sh).
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

/// When CAIRN_FUZZ_WRITE_SEEDS names a folder, writes `seeds` there as seed-NN files and exits.
/// Called from LLVMFuzzerInitialize, so `out/fuzz-X` regenerates fuzz/corpus/X (see run.sh --seeds).
func writeSeedsIfAsked(_ seeds: [[UInt8]]) {
    guard let dirC = getenv("CAIRN_FUZZ_WRITE_SEEDS") else { return }
    let dir = String(cString: dirC)
    for (i, seed) in seeds.enumerated() {
        let path = dir + "/seed-" + (i < 10 ? "0" : "") + String(i)
        guard let f = fopen(path, "wb") else { fuzzFail("cannot write \(path)") }
        _ = seed.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        fclose(f)
    }
    print("wrote \(seeds.count) seeds to \(dir)")
    exit(0)
}

/// A deterministic ID for seeds: byte i = seed &+ i.
func seedID(_ seed: UInt8) -> [UInt8] { (0..<32).map { seed &+ UInt8($0) } }

/// Reads CAIRN_FUZZ_STRICT once: when set, targets also check rules the format documents but
/// the decoders do not enforce (reported separately; off by default so fuzzing goes on).
let fuzzStrict: Bool = getenv("CAIRN_FUZZ_STRICT") != nil
