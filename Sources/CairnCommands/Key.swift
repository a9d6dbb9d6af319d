import CairnCore
import CairnCrypto
import CairnFormat
import CairnRepository

/// `key list`: the key files, which one opened the repository, who made each and when.
public struct KeyListCommand: RepositoryCommand {
    public init() {}
    public var operation: String { "key list" }
    public var lock: LockNeed { .none }

    public struct Key: Codable, Sendable, Equatable {
        public var id: String, current: Bool, username: String, hostname: String, created: String
    }

    public func run(_ repo: Repository, _ context: CommandContext) throws -> [Key] {
        var out: [Key] = []
        for f in try repo.backend.list(.key).sorted(by: { $0.name < $1.name }) {
            guard let k = try? KeyFile.decode(try repo.backend.read(.key, f.name)) else {
                context.warn("key \(f.name.prefix(8)) unreadable"); continue
            }
            out.append(Key(id: f.name, current: f.name == repo.keyName, username: k.username, hostname: k.hostname, created: k.created))
        }
        return out
    }
}

/// The new password of `key add` and `key passwd`, and its scrypt cost.
public struct NewKey: Sendable {
    public var password: [UInt8]
    public var parameters = ScryptParameters.default
    /// Create a key above the KDF cost ceiling (every open would skip it unless allowed).
    public var allowExpensive = false

    public init(password: [UInt8]) { self.password = password }

    func validate() throws { try checkKDFCeiling(parameters, allowExpensive: allowExpensive) }

    /// Writes a key file for the new password; returns its name.
    func write(_ repo: Repository) throws -> String {
        try validate()
        return try repo.addKey(password: password, parameters: parameters)
    }
}

/// `key add`: a key file for another password.
public struct KeyAddCommand: RepositoryCommand {
    public var key: NewKey
    public init(_ key: NewKey) { self.key = key }
    public var operation: String { "key add" }
    public var lock: LockNeed { .shared(readOnly: false) }

    public struct Result: Codable, Sendable { public var id: String }

    public func run(_ repo: Repository, _ context: CommandContext) throws -> Result { Result(id: try key.write(repo)) }
}

/// `key remove`: deletes a key file, never the one that opened the repository.
public struct KeyRemoveCommand: RepositoryCommand {
    /// Key ID or unique prefix.
    public var id: String
    public init(id: String) { self.id = id }
    public var operation: String { "key remove" }
    public var lock: LockNeed { .exclusive }

    public struct Result: Codable, Sendable { public var id: String }

    public func run(_ repo: Repository, _ context: CommandContext) throws -> Result {
        let target = try repo.find(.key, prefix: id).hex
        guard target != repo.keyName else {
            throw CommandError("refusing to remove the key in use: open the repository with another password first")
        }
        try repo.backend.delete(.key, target)
        return Result(id: target)
    }
}

/// `key passwd`: the key in use gets a new password. The new key file is durable before the
/// old one is deleted, so a crash between the two leaves both passwords working.
public struct KeyPasswdCommand: RepositoryCommand {
    public var key: NewKey
    public init(_ key: NewKey) { self.key = key }
    public var operation: String { "key passwd" }
    public var lock: LockNeed { .exclusive }

    public struct Result: Codable, Sendable { public var id: String; public var replaced: String }

    public func run(_ repo: Repository, _ context: CommandContext) throws -> Result {
        let name = try key.write(repo)
        try repo.backend.delete(.key, repo.keyName)
        return Result(id: name, replaced: repo.keyName)
    }
}
