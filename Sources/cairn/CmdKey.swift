import ArgumentParser
import CairnStorage
import CairnCore
import CairnCrypto
import CairnFormat
import CairnRepository
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

struct Key: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Manage the repository's keys (passwords).",
                                                    subcommands: [List.self, Add.self, Remove.self, Passwd.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List key files.")
        @OptionGroup var global: GlobalOptions
        func run() throws {
            let repo = try global.open()
            struct Out: Encodable { var id: String; var current: Bool; var username: String; var hostname: String; var created: String }
            var out: [Out] = []
            for f in try repo.backend.list(.key).sorted(by: { $0.name < $1.name }) {
                guard let k = try? KeyFile.decode(try repo.backend.read(.key, f.name)) else { stderr("warning: key \(f.name.prefix(8)) unreadable"); continue }
                out.append(Out(id: f.name, current: f.name == repo.keyName, username: k.username, hostname: k.hostname, created: k.created))
            }
            if global.json { try global.emit(json: out); return }
            stdout(" ID        User      Host              Created")
            for k in out { stdout("\(k.current ? "*" : " ")\(k.id.prefix(8))  \(pad(k.username, 9)) \(pad(k.hostname, 17)) \(k.created)") }
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a key with a new password.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var newKey: NewKeyOptions
        func run() throws {
            let repo = try global.open()
            let name = try newKey.addKey(to: repo, allowExpensive: global.allowExpensiveKDF)
            if !global.quiet { stdout("added key \(name.prefix(8))") }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a key (not the one in use).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Key ID or unique prefix.") var id: String
        func run() throws {
            let repo = try global.open()
            let lock = try global.writeLock(repo, exclusive: true, operation: "key remove")
            defer { lock.release() }
            let target = try repo.find(.key, prefix: id).hex
            guard target != repo.keyName else { throw ValidationError("refusing to remove the key in use: open the repository with another password first") }
            try repo.backend.delete(.key, target)
            if !global.quiet { stdout("removed key \(target.prefix(8))") }
        }
    }

    struct Passwd: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change the password of the key in use.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var newKey: NewKeyOptions
        func run() throws {
            let repo = try global.open()
            let name = try newKey.addKey(to: repo, allowExpensive: global.allowExpensiveKDF)   // the new key is durable first
            try repo.backend.delete(.key, repo.keyName)
            if !global.quiet { stdout("password changed: key \(name.prefix(8)) replaces \(repo.keyName.prefix(8))") }
        }
    }
}

/// The new password (and its scrypt cost) for `key add` and `key passwd`.
struct NewKeyOptions: ParsableArguments {
    @Option(name: .customLong("new-password-file"), help: "Read the new password from this file.") var newPasswordFile: String?
    @Option(help: ArgumentHelp("scrypt cost N.", visibility: .hidden)) var kdfN: UInt64 = ScryptParameters.default.n

    /// Writes a key file for the new password; returns its name.
    func addKey(to repo: Repository, allowExpensive: Bool) throws -> String {
        var p = ScryptParameters.default; p.n = kdfN
        guard p.isWithinCeiling || allowExpensive else {
            throw ValidationError("--kdf-n \(kdfN) puts the key above the KDF cost ceiling (N·r·p ≤ 2^22): every open would skip it unless --allow-expensive-kdf is given; give that flag to create it anyway")
        }
        return try repo.addKey(password: try newPassword(newPasswordFile), parameters: p)
    }
}

func newPassword(_ file: String?) throws -> [UInt8] {
    if let file {
        guard let d = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
        return Password.firstLine(Array(d))
    }
    if let p = ProcessInfo.processInfo.environment["CAIRN_NEW_PASSWORD"], !p.isEmpty { return Array(p.utf8) }
    return try Password.read(file: nil, command: nil, confirm: true, prompt: "enter new password: ")
}

extension Repository {
    func addKey(password: [UInt8], parameters: ScryptParameters) throws -> String {
        let k = try KeyFile.create(master: key, password: password, parameters: parameters, hostname: Host.name,
                                   username: Host.user, created: .now(), random: random)
        let bytes = try k.encoded()
        let name = SHA256.hash(bytes).hex
        try backend.write(.key, name, bytes)
        return name
    }
}

struct Cat: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a repository object: config, snapshot, tree, index, key, pack (header) or blob.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "config | snapshot | tree | index | key | pack | blob") var kind: String
    @Argument(help: "ID or unique prefix (not for config); for tree also SNAPSHOT[:PATH].") var id: String?

    func run() throws {
        let repo = try global.open()
        let e = JSONEncoder(); e.outputFormatting = [.sortedKeys, .prettyPrinted]
        func need() throws -> String { guard let id else { throw ValidationError("cat \(kind) needs an ID") }; return id }
        switch kind {
        case "config": stdout(String(decoding: try e.encode(repo.config), as: UTF8.self))
        case "snapshot":
            let id = try repo.find(.snapshot, prefix: try need())
            stdout(String(decoding: try e.encode(try repo.loadSnapshot(id)), as: UTF8.self))
        case "key":
            let id = try repo.find(.key, prefix: try need())
            stdout(String(decoding: try repo.backend.read(.key, id.hex), as: UTF8.self))
        case "index":
            let id = try repo.find(.index, prefix: try need())
            let idx = try IndexFile.decode(try repo.loadFile(.index, id))
            try global.emit(json: idx.packs.map { p in ["pack": p.id.hex, "blobs": p.blobs.map { "\($0.type) \($0.id.hex) offset=\($0.offset) stored=\($0.storedLength) plain=\($0.plainLength) compression=\($0.compression)" }.joined(separator: "\n")] })
        case "pack":
            let id = try repo.find(.pack, prefix: try need())
            let h = try repo.readPackHeader(id)
            for b in h.entries { stdout("\(b.type) \(b.id.hex) offset=\(b.offset) stored=\(b.storedLength) plain=\(b.plainLength) compression=\(b.compression)") }
        case "tree":
            try repo.loadIndex()
            let arg = try need()
            let treeID: ID
            if let t = ID(hex: arg) { treeID = t } else {
                let (s, p) = splitSnapshotPath(arg)
                let snap = try repo.resolveSnapshot(s).1
                let node = try repo.node(at: p, root: snap.treeID!)
                guard case .subtree(let sub) = node.content else { throw ValidationError("\(arg) is not a folder") }
                treeID = sub
            }
            for n in try repo.loadTree(treeID).nodes {
                stdout("\(modeString(n)) \(n.uid):\(n.gid) \(n.size) \(n.nameString) \(n.subtree.map { "tree=" + $0.hex } ?? "") \(n.chunks.isEmpty ? "" : "chunks=" + n.chunks.map(\.short).joined(separator: ","))")
            }
        case "blob":
            try repo.loadIndex()
            guard let id = ID(hex: try need()) else { throw ValidationError("blob needs a full 64-digit ID") }
            let type: BlobType = repo.hasBlob(.data, id) ? .data : .tree
            try writeAll(1, repo.loadBlob(type, id))
        default: throw ValidationError("unknown kind \(kind): config, snapshot, tree, index, key, pack or blob")
        }
    }
}
