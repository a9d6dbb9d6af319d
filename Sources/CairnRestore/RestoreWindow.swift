import CairnCore
import CairnFormat
import CairnRepository
import CairnTree
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// A file created by the restorer's walk whose content is still to be written. Its
/// descriptor stays open, so nothing is ever re-resolved by path.
struct PendingFile {
    var fd: Int32
    var node: Node
    var display: PathBytes
}

/// Writes the content of a window of files, reading each pack once.
///
/// The plan groups every needed blob by pack, and each blob lists every (file, offset) that
/// needs it. Packs are processed in parallel: needed blobs that lie close together are read in
/// one request, each blob is opened (decrypted, decompressed) once and written with `pwrite`
/// to all its places. All-zero blobs are skipped, so holes stay holes. Opening a blob already
/// authenticates it against its ID (AEAD with the ID bound), so it is not re-hashed here;
/// `--verify` re-hashes what actually reached the disk.
struct RestoreWindow: Sendable {
    struct Target: Sendable { var file: Int; var offset: Int }
    struct Need: Sendable { var entry: BlobEntry; var targets: [Target] }

    let repo: Repository
    let progress: OperationProgress
    /// Reads of blobs closer than this are merged into one request.
    static let gapLimit: UInt64 = 1 << 20

    struct Outcome: Sendable {
        var damaged: Set<Int> = []
        var warnings: [String] = []
        /// Files a write into failed: the first error of each (a write error is not damage
        /// in the repository, and is reported once per file, not once per chunk).
        var writeFailed: [Int: String] = [:]
        /// The target's file system is full: every pack stops, the restore ends.
        var full = false
    }
    /// Set when a write finds the file system full, so no pack goes on writing.
    let stopped = Locked(false)

    /// Plans and runs a window. `fds[i]` and `chunks[i]` describe file i.
    func run(fds: [Int32], chunks: [[ID]], names: [String]) -> (sizes: [Int], outcome: Outcome) {
        var byPack: [ID: [ID: Need]] = [:]
        var sizes = [Int](repeating: 0, count: fds.count)
        var outcome = Outcome()
        for (f, ids) in chunks.enumerated() {
            var offset = 0
            for id in ids {
                guard let loc = repo.lookup(.data, id) else {
                    outcome.damaged.insert(f)
                    outcome.warnings.append("\(names[f]): chunk \(id.short) at offset \(offset) is not in the index; left as a hole of unknown size, file truncated there")
                    break
                }
                byPack[loc.pack, default: [:]][id, default: Need(entry: loc.entry, targets: [])].targets.append(Target(file: f, offset: offset))
                offset += Int(loc.entry.plainLength)
            }
            sizes[f] = offset
        }
        let packs = Array(byPack)
        let shared = Locked(outcome)
        DispatchQueue.concurrentPerform(iterations: packs.count) { i in
            let (pack, needs) = packs[i]
            let local = restorePack(pack, needs: needs.values.sorted { $0.entry.offset < $1.entry.offset }, fds: fds, names: names)
            if !local.damaged.isEmpty || !local.warnings.isEmpty || !local.writeFailed.isEmpty || local.full {
                shared.withLock {
                    $0.damaged.formUnion(local.damaged); $0.warnings += local.warnings
                    $0.writeFailed.merge(local.writeFailed) { a, _ in a }
                    $0.full = $0.full || local.full
                }
            }
        }
        return (sizes, shared.withLock { $0 })
    }

    func restorePack(_ pack: ID, needs: [Need], fds: [Int32], names: [String]) -> Outcome {
        var out = Outcome()
        var i = 0
        while i < needs.count {
            if repo.cancellation.isCancelled || stopped.withLock({ $0 }) { return out }
            // A run of blobs with small gaps between them: one read.
            var j = i + 1
            var end = needs[i].entry.offset + UInt64(needs[i].entry.storedLength)
            while j < needs.count, needs[j].entry.offset <= end + Self.gapLimit {
                end = max(end, needs[j].entry.offset + UInt64(needs[j].entry.storedLength)); j += 1
            }
            let start = needs[i].entry.offset
            let bytes: [UInt8]
            do { bytes = try repo.backend.read(.pack, pack.hex, offset: start, length: Int(end - start)) } catch {
                for n in needs[i..<j] { fail(n, "pack \(pack.short) unreadable: \(error)", &out, names) }
                i = j; continue
            }
            for n in needs[i..<j] {
                let lo = Int(n.entry.offset - start), hi = lo + Int(n.entry.storedLength)
                let plain: [UInt8]
                do {
                    plain = try bytes.withUnsafeBytes { try BlobCodec.open(UnsafeRawBufferPointer(rebasing: $0[lo..<hi]), entry: n.entry, key: repo.key) }
                } catch {
                    fail(n, "\(error)", &out, names); continue
                }
                if !Restorer.isZero(plain) {
                    for t in n.targets where out.writeFailed[t.file] == nil {
                        do { try write(plain, fd: fds[t.file], at: t.offset, name: names[t.file]) } catch let e as SourceError {
                            out.writeFailed[t.file] = "\(e)"
                            if e.errno == ENOSPC || e.errno == EDQUOT {
                                out.full = true
                                stopped.withLock { $0 = true }
                                return out
                            }
                        } catch { out.writeFailed[t.file] = "\(error)" }
                    }
                }
                progress.addBytes(plain.count * n.targets.count)
            }
            i = j
        }
        return out
    }

    func fail(_ n: Need, _ why: String, _ out: inout Outcome, _ names: [String]) {
        for t in n.targets {
            out.damaged.insert(t.file)
            out.warnings.append("\(names[t.file]): chunk \(n.entry.id.short) at offset \(t.offset) is unreadable (left as a hole): \(why)")
        }
    }

    func write(_ data: [UInt8], fd: Int32, at offset: Int, name: String) throws {
        var done = 0
        while done < data.count {
            let n = data.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, data.count - done, offset + done) }
            if n > 0 { done += n; continue }
            if n < 0 && errno == EINTR { continue }
            throw SourceError(path: Array(name.utf8), errno: errno, what: "write")
        }
    }
}
