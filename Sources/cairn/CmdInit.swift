import ArgumentParser
import CairnCommands
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
        var c = InitCommand()
        let around = ChunkerParameters.around(avg: chunkAvg)
        c.options.chunker = ChunkerParameters(min: chunkMin ?? around.min, avg: chunkAvg, max: chunkMax ?? around.max)
        c.options.compression = global.compression ?? .auto
        c.options.packSize = packSize << 20
        c.options.scrypt.n = kdfN
        c.allowExpensiveKDF = global.allowExpensiveKDF
        try c.validate()   // before any password is asked for
        if copyChunkerParams { c.sharedKeysFrom = try from.open(global) }
        let password = try global.password(confirm: true, prompt: "enter password for new repository: ")
        let r = try c.run(backend: backend, password: password)
        if global.json { try global.emit(json: r) }
        else if !global.quiet { stdout("created cairn repository \(r.id.prefix(8)) at \(r.location)\n\nKeep the password safe: without it the data cannot be read.") }
    }
}
