import CairnCore
import CairnCrypto
import CairnRepository
import CairnStorage

/// `init`: a new repository in an empty store. With `sharedKeysFrom`, the new repository takes
/// another's chunker parameters and ID keys (never its encryption key), so `copy` between the
/// two sends only what is missing.
public struct InitCommand: Sendable {
    public var options = Repository.InitOptions()
    /// Create the key above the KDF cost ceiling (every open would skip it unless allowed).
    public var allowExpensiveKDF = false
    public var sharedKeysFrom: Repository?

    public init() {}

    public struct Result: Codable, Sendable {
        public var id: String
        public var location: String
    }

    /// The checks that need no password (a front end calls this before asking for one).
    public func validate() throws { try checkKDFCeiling(options.scrypt, allowExpensive: allowExpensiveKDF) }

    public func run(backend: any Backend, password: [UInt8]) throws -> Result {
        try validate()
        var o = options
        if let source = sharedKeysFrom {
            o.sharedKeys = source.key
            o.chunker = source.config.chunkerParameters
        }
        let repo = try Repository.initialize(backend: backend, password: password, options: o)
        return Result(id: repo.id.hex, location: backend.location)
    }
}
