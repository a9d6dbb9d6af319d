import ArgumentParser
import CairnChunking
import CairnCompression
import CairnCrypto
import CairnRepository

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create a new repository.")
    @OptionGroup var global: GlobalOptions

    @Option(help: "Average chunk size in bytes, a power of two (min = avg/4, max = avg*4 unless given).")
    var chunkAvg = ChunkerParameters.default.avg
    @Option(help: "Minimum chunk size in bytes.") var chunkMin: Int?
    @Option(help: "Maximum chunk size in bytes.") var chunkMax: Int?
    @Option(help: "Target pack size in MiB.") var packSize = 16
    @Option(help: ArgumentHelp("scrypt cost N (a power of two).", visibility: .hidden)) var kdfN: UInt64 = ScryptParameters.default.n
    @Flag(name: .customLong("copy-chunker-params"), help: "Take the chunker parameters and ID key of --from-repo, so copies between the two send only what is missing.")
    var copyChunkerParams = false
    @OptionGroup var from: FromRepository

    func validate() throws {
        if copyChunkerParams && from.fromRepo == nil && from.environmentRepository == nil {
            throw ValidationError("--copy-chunker-params needs --from-repo")
        }
    }

    func run() throws {
        let backend = try global.backend
        var o = Repository.InitOptions()
        let around = ChunkerParameters.around(avg: chunkAvg)
        o.chunker = ChunkerParameters(min: chunkMin ?? around.min, avg: chunkAvg, max: chunkMax ?? around.max)
        o.compression = global.compression ?? .auto
        o.packSize = packSize << 20
        o.scrypt.n = kdfN
        guard o.scrypt.isWithinCeiling || global.allowExpensiveKDF else {
            throw ValidationError("--kdf-n \(kdfN) puts the key above the KDF cost ceiling (N·r·p ≤ 2^22): every open would skip it unless --allow-expensive-kdf is given; give that flag to create it anyway")
        }
        if copyChunkerParams {
            let source = try from.open(global)
            o.sharedKeys = source.key
            o.chunker = source.config.chunkerParameters
        }
        let password = try global.password(confirm: true, prompt: "enter password for new repository: ")
        let repo = try Repository.initialize(backend: backend, password: password, options: o)
        if !global.quiet { stdout("created cairn repository \(repo.id.short) at \(backend.location)\n\nKeep the password safe: without it the data cannot be read.") }
    }
}
