// The example store of docs/stores.md, byte for byte (StoreConformanceTests checks that
// the document still shows this code, and runs the conformance suite on it).
// BEGIN EXAMPLE
import CairnCore
import CairnStorage

/// A store that keeps its files in memory, keyed "folder/name".
final class MemoryStore: Backend {
    let files = Locked<[String: [UInt8]]>([:])
    let location: String
    init(name: String) { location = "memory:" + name }

    func key(_ type: FileType, _ name: String) -> String { type.folder + "/" + name }
    func file(_ type: FileType, _ name: String) throws -> [UInt8] {
        guard let bytes = files.withLock({ $0[key(type, name)] }) else { throw StorageError.notFound(key(type, name)) }
        return bytes
    }

    func create() throws {
        if (try? file(.config, "config")) != nil { throw StorageError.io("a repository already exists at \(location)") }
    }
    func list(_ type: FileType) throws -> [FileInfo] {
        files.withLock { all in
            all.compactMap { k, v in
                k.hasPrefix(type.folder + "/") ? FileInfo(name: String(k.dropFirst(type.folder.count + 1)), size: UInt64(v.count)) : nil
            }
        }
    }
    func stat(_ type: FileType, _ name: String) throws -> FileInfo { FileInfo(name: name, size: UInt64(try file(type, name).count)) }
    func read(_ type: FileType, _ name: String, offset: UInt64, length: Int?) throws -> [UInt8] {
        let bytes = try file(type, name)
        let end = length.map { Int(offset) + $0 } ?? bytes.count
        guard offset <= bytes.count, end <= bytes.count else { throw StorageError.io("\(key(type, name)): range past the end") }
        return Array(bytes[Int(offset)..<end])
    }
    func write(_ type: FileType, _ name: String, _ bytes: [UInt8]) throws { files.withLock { $0[key(type, name)] = bytes } }
    func delete(_ type: FileType, _ name: String) throws { _ = files.withLock { $0.removeValue(forKey: key(type, name)) } }
}
// END EXAMPLE
