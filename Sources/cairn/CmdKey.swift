import ArgumentParser
import CairnCommands
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
            let keys = try global.run(KeyListCommand())
            if global.json { try global.emit(json: keys); return }
            stdout(" ID        User      Host              Created")
            for k in keys { stdout("\(k.current ? "*" : " ")\(k.id.prefix(8))  \(pad(k.username, 9)) \(pad(k.hostname, 17)) \(k.created)") }
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a key with a new password.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var newKey: NewKeyOptions
        func run() throws {
            let r = try global.run(KeyAddCommand(try newKey.key(global)))
            if global.json { try global.emit(json: r) } else if !global.quiet { stdout("added key \(r.id.prefix(8))") }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a key (not the one in use).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Key ID or unique prefix.") var id: String
        func run() throws {
            let r = try global.run(KeyRemoveCommand(id: id))
            if global.json { try global.emit(json: r) } else if !global.quiet { stdout("removed key \(r.id.prefix(8))") }
        }
    }

    struct Passwd: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change the password of the key in use.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var newKey: NewKeyOptions
        func run() throws {
            let r = try global.run(KeyPasswdCommand(try newKey.key(global)))
            if global.json { try global.emit(json: r) }
            else if !global.quiet { stdout("password changed: key \(r.id.prefix(8)) replaces \(r.replaced.prefix(8))") }
        }
    }
}

/// The new password (and its scrypt cost) for `key add` and `key passwd`.
struct NewKeyOptions: ParsableArguments {
    @Option(name: .customLong("new-password-file"), help: "Read the new password from this file.") var newPasswordFile: String?
    @Option(help: ArgumentHelp("scrypt cost N.", visibility: .hidden)) var kdfN: UInt64 = ScryptParameters.default.n

    func key(_ global: GlobalOptions) throws -> NewKey {
        var k = NewKey(password: try newPassword(newPasswordFile))
        k.parameters.n = kdfN
        k.allowExpensive = global.allowExpensiveKDF
        return k
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
