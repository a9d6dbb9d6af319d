import ArgumentParser
import CairnCore
import CairnRestore
import CairnTree
import CairnFormat
import CairnRepository
import CairnStorage

// The members of a tar stream snapshot (format-spec §13.5) for `ls`, `dump` and
// `restore --from-stream`: a view of the stream's headers, nothing stored.

/// The tar stream of a stream snapshot, or nil (also, with a warning, when it cannot be read).
func openTarStream(_ repo: Repository, _ snap: Snapshot) -> TarStream? {
    do { return try TarStream.open(repository: repo, snapshot: snap) } catch {
        stderr("warning: the stream's members cannot be listed: \(error)")
        return nil
    }
}

/// `ls` of the members at or below `inner`, as paths below the stream's own.
func listMembers(_ tar: TarStream, under inner: [PathBytes], recursive: Bool, out: LsOutput) throws {
    let (members, warnings, errors) = tar.members()
    defer { for w in warnings { stderr("warning: \(tar.node.nameString): \(w)") } }
    defer { for e in errors { stderr("error: \(tar.node.nameString): \(e)") } }
    guard let selected = TarStream.select(members, under: inner, recursive: recursive) else {
        throw RepositoryError.fileNotFound("\(TarStream.shown(inner.joined(separator: [0x2F]).map { $0 })) is not a member of the tar stream \(tar.node.nameString)")
    }
    let base = "/" + tar.node.nameString + "/"
    for (path, m) in selected {
        let shown = TarStream.shown(path.joined(separator: [0x2F]).map { $0 })
        let link = m.kind == .symlink || m.kind == .hardlink ? String(decoding: m.linkTarget, as: UTF8.self) : nil
        let e = LsEntry(path: (out.json ? base + String(decoding: path.joined(separator: [0x2F]).map { $0 }, as: UTF8.self) : base + shown),
                        type: m.kind.rawValue, mode: m.mode, uid: m.uid, gid: m.gid, user: String(decoding: m.user, as: UTF8.self),
                        group: String(decoding: m.group, as: UTF8.self), size: m.size, mtime: Timestamp(nanoseconds: m.mtime).rfc3339,
                        link_target: link)
        let typeChar: Character
        switch m.kind {
        case .file: typeChar = m.isSparse ? "S" : "-"
        case .hardlink: typeChar = "h"
        case .symlink: typeChar = "l"
        case .charDevice: typeChar = "c"
        case .blockDevice: typeChar = "b"
        case .directory: typeChar = "d"
        case .fifo: typeChar = "p"
        case .other: typeChar = "?"
        }
        let suffix = m.kind == .symlink ? " -> " + TarStream.shown(m.linkTarget) : m.kind == .hardlink ? " link to " + TarStream.shown(m.linkTarget) : ""
        out.emit(e, typeChar: typeChar, mtime: m.mtime, suffix: suffix)
    }
    if !errors.isEmpty { throw ExitWith(code: .fatal) }
}

/// `dump SNAPSHOT STREAM:PATH`: one member's content to standard output. False when `path`
/// does not reach inside a tar stream (the caller dumps the node).
func dumpMember(_ repo: Repository, _ snap: Snapshot, path: String) throws -> Bool {
    guard let tar = try TarStream.open(repository: repo, snapshot: snap), let inner = tar.inner(path), !inner.isEmpty else { return false }
    let (members, warnings, errors) = tar.members()
    guard let i = TarStream.find(members[...], path: inner) else {
        for w in warnings { stderr("warning: \(tar.node.nameString): \(w)") }
        for e in errors { stderr("error: \(tar.node.nameString): \(e)") }
        throw RepositoryError.fileNotFound("\(TarStream.shown(inner.joined(separator: [0x2F]).map { $0 })) is not a member of the tar stream \(tar.node.nameString)")
    }
    let m = try TarStream.dataMember(members, i)
    let length = try tar.dump(m) { try writeAll(1, $0) }
    if !m.isSparse && length < m.dataSize {
        throw RepositoryError.damaged("the stream ends inside \(TarStream.shown(m.path)): wrote \(length) of \(m.dataSize) bytes")
    }
    return true
}
