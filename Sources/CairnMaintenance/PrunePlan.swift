import CairnCore
import CairnCrypto
import CairnFormat
import CairnRepository
import CairnStorage
import CairnTree
import CairnCheck

/// What `prune` may leave and how much it may rewrite.
public struct PruneOptions: Sendable {
    public enum MaxUnused: Sendable, Equatable {
        /// Unused bytes may be at most this share (0...100) of the pack bytes after prune.
        case percent(Double)
        case bytes(UInt64)
        /// Only fully unused packs are deleted; nothing is repacked.
        case unlimited
    }
    public var maxUnused: MaxUnused = .percent(5)
    /// Stop choosing packs to repack once their sizes add up to this.
    public var maxRepackSize: UInt64? = nil
    public var dryRun = false
    /// Also repack packs below 80 % of the target pack size, when a blob type has two or more
    /// of them (restic's --repack-small): many small backups leave many small packs.
    public var repackSmall = false
    public init(maxUnused: MaxUnused = .percent(5), maxRepackSize: UInt64? = nil, dryRun: Bool = false, repackSmall: Bool = false) {
        self.maxUnused = maxUnused; self.maxRepackSize = maxRepackSize; self.dryRun = dryRun; self.repackSmall = repackSmall
    }

    /// `5%`, a size (`200M`, `1G`, bytes) or `unlimited`.
    public static func parseMaxUnused(_ s: String) throws -> MaxUnused {
        if s == "unlimited" { return .unlimited }
        if s.hasSuffix("%") {
            guard let p = Double(s.dropLast()), p >= 0, p <= 100 else {
                throw RepositoryError.invalidArgument("--max-unused \(s): a percentage must be in [0, 100]")
            }
            return p == 100 ? .unlimited : .percent(p)
        }
        guard let b = CheckOptions.parseSize(s) else {
            throw RepositoryError.invalidArgument("--max-unused \(s): give a percentage (5%), a size (500M) or unlimited")
        }
        return .bytes(b)
    }

    /// The unused bytes tolerated when `used` bytes of blobs stay.
    func limit(used: UInt64) -> UInt64 {
        switch maxUnused {
        case .unlimited: return .max
        case .bytes(let b): return b
        case .percent(let p):
            guard p < 100 else { return .max }
            return UInt64(min(1.8e19, (max(0, p) / (100 - p) * Double(used)).rounded(.down)))
        }
    }
}

/// The numbers of a plan (what `--dry-run` prints) and of a finished run.
public struct PruneStats: Sendable, Codable, Equatable {
    public var snapshots = 0
    /// Packs in the store, and their bytes.
    public var packs = 0
    public var packBytes: UInt64 = 0
    /// Stored bytes of the blobs the snapshots need (one copy each), and of all other blobs.
    public var usedBytes: UInt64 = 0
    public var unusedBytes: UInt64 = 0
    public var duplicateBlobs = 0
    public var packsToDelete = 0
    public var bytesToDelete: UInt64 = 0
    public var packsToRepack = 0
    public var bytesToRepack: UInt64 = 0
    /// Blobs copied out of repacked packs into new ones, and their stored bytes.
    public var blobsToCopy = 0
    public var bytesToCopy: UInt64 = 0
    public var packsToKeep = 0
    public var bytesToKeep: UInt64 = 0
    /// Unused blob bytes left in kept packs, and their share of the kept blob bytes.
    public var unusedAfter: UInt64 = 0
    public var unusedShareAfter: Double = 0
    /// Packs found in the store but in no index file (read from their headers).
    public var unindexedPacks = 0
    /// Packs the index lists that are not in the store (dropped from the index).
    public var missingPacks = 0
    /// Unindexed packs whose header does not open: left alone (`check --read-data` reports them).
    public var unreadablePacks: [String] = []
    /// Unindexed packs whose header does not open and whose bytes do not match their name
    /// (a truncated write, a stranger's file): deleted.
    public var garbagePacks: [String] = []
}

/// What prune will do, computed before anything is written.
public struct PrunePlan: Sendable {
    public var stats = PruneStats()
    /// Every pack that will stay, with its entries.
    var staying: [ID: [BlobEntry]] = [:]
    /// Packs to delete (nothing in them is used) and to repack.
    public internal(set) var delete: [ID] = []
    public internal(set) var repack: [ID] = []
    /// Per repacked pack, the blobs to copy out of it (in offset order).
    var copy: [ID: [BlobEntry]] = [:]
    /// Every pack the plan knows about (indexed, adopted, missing, unreadable).
    var known = Set<ID>()
    /// Whether the index files must be rewritten even with nothing to delete.
    var rewriteIndex = false

    public var nothingToDo: Bool { delete.isEmpty && repack.isEmpty && !rewriteIndex }
}

struct BlobKey: Hashable {
    var type: BlobType
    var id: ID
}

extension Pruner {
    /// Marks what the snapshots use and classifies every pack. Reads the index, the headers
    /// of unindexed packs and every tree; writes nothing.
    public func plan(_ options: PruneOptions) throws -> PrunePlan {
        var plan = PrunePlan()
        let listing = try repo.indexedPacks()
        let stored = Dictionary(try repo.backend.list(.pack).compactMap { f in ID(hex: f.name).map { ($0, f.size) } },
                                uniquingKeysWith: { a, _ in a })
        var packs: [ID: [BlobEntry]] = [:]
        for (id, entries) in listing.packs {
            plan.known.insert(id)
            if stored[id] != nil { packs[id] = entries } else { plan.stats.missingPacks += 1 }
        }
        // Packs no index lists (an interrupted backup or prune): take them from their headers,
        // so their blobs count and the ones nobody needs go.
        for (id, size) in stored.sorted(by: { $0.key < $1.key }) where listing.packs[id] == nil {
            plan.known.insert(id)
            try repo.checkCancelled()
            do { packs[id] = try repo.readPackHeader(id, size: size).entries; plan.stats.unindexedPacks += 1 }
            catch {
                // No index lists it and its header does not open. If its bytes do not hash to
                // its name either, it is no pack Cairn made whole (a write cut short, or a
                // stranger's file): nothing can be read out of it, so it goes. Otherwise (or
                // when it cannot be read now) it is left for `repair packs`.
                if let bytes = try? repo.backend.read(.pack, id.hex), SHA256.hash(bytes) != id {
                    plan.delete.append(id); plan.stats.packsToDelete += 1; plan.stats.bytesToDelete += size
                    plan.stats.garbagePacks.append(id.hex)
                } else {
                    plan.stats.unreadablePacks.append(id.hex)
                }
            }
        }
        plan.rewriteIndex = plan.stats.missingPacks > 0 || plan.stats.unindexedPacks > 0
            || !listing.superseded.isEmpty || !listing.bad.isEmpty
        repo.useIndex(packs.map { IndexFile.Pack(id: $0.key, blobs: $0.value) })

        let needed = try markUsed(&plan.stats)

        // How many needed blobs each pack holds: a blob stored in several packs is owned by
        // the one holding the most, so the others can empty out.
        let order = packs.keys.sorted()
        var neededCount: [ID: Int] = [:]
        for id in order {
            neededCount[id] = packs[id]!.reduce(0) { $0 + (needed.contains(BlobKey(type: $1.type, id: $1.id)) ? 1 : 0) }
        }
        var owner: [BlobKey: (pack: ID, offset: UInt64)] = [:]
        for id in order {
            for e in packs[id]! {
                let k = BlobKey(type: e.type, id: e.id)
                guard needed.contains(k) else { continue }
                if let o = owner[k] {
                    plan.stats.duplicateBlobs += 1
                    if neededCount[id]! > neededCount[o.pack]! { owner[k] = (id, e.offset) }
                } else { owner[k] = (id, e.offset) }
            }
        }
        for k in needed where owner[k] == nil {
            throw RepositoryError.damaged("\(k.type) blob \(k.id.short) a snapshot needs is in no pack: prune deletes nothing until `cairn check` and repair have run")
        }

        struct Usage { var id: ID; var size: UInt64; var used: UInt64; var total: UInt64; var owned: [BlobEntry] }
        var partial: [Usage] = [], full: [Usage] = []
        for id in order {
            var u = Usage(id: id, size: stored[id]!, used: 0, total: 0, owned: [])
            for e in packs[id]! {
                u.total += UInt64(e.storedLength)
                if let o = owner[BlobKey(type: e.type, id: e.id)], o.pack == id, o.offset == e.offset {
                    u.used += UInt64(e.storedLength); u.owned.append(e)
                }
            }
            plan.stats.packs += 1
            plan.stats.packBytes += u.size
            plan.stats.usedBytes += u.used
            plan.stats.unusedBytes += u.total - u.used
            if u.used == 0 {
                plan.delete.append(id); plan.stats.packsToDelete += 1; plan.stats.bytesToDelete += u.size
            } else if u.used == u.total {
                plan.staying[id] = packs[id]!
                full.append(u)
            } else {
                partial.append(u)
            }
        }

        // Repack the emptiest partly used packs until the unused bytes left are within the limit.
        partial.sort { a, b in
            let ra = Double(a.used) / Double(a.total), rb = Double(b.used) / Double(b.total)
            return ra != rb ? ra < rb : a.id < b.id
        }
        var remaining = partial.reduce(UInt64(0)) { $0 + ($1.total - $1.used) }
        let limit = options.limit(used: plan.stats.usedBytes)
        var repackBytes: UInt64 = 0
        var repacking: [Usage] = []
        for u in partial {
            if remaining <= limit || (options.maxRepackSize.map { repackBytes + u.size > $0 } ?? false) {
                plan.staying[u.id] = packs[u.id]!
                continue
            }
            repacking.append(u)
            remaining -= u.total - u.used
            repackBytes += u.size
        }
        if options.repackSmall {
            // Small packs, per blob type (a pack holds one type); one small pack of a type is
            // what repacking leaves anyway, so it stays.
            let target = UInt64(repo.config.packSize) * 4 / 5
            let chosen = Set(repacking.map(\.id))
            let small = (full + partial).filter { $0.size < target && !chosen.contains($0.id) }
            let byType = Dictionary(grouping: small) { packs[$0.id]!.first?.type ?? .data }
            for (_, group) in byType.sorted(by: { $0.key.rawValue < $1.key.rawValue }) where group.count >= 2 {
                for u in group.sorted(by: { $0.id < $1.id }) {
                    if options.maxRepackSize.map({ repackBytes + u.size > $0 }) ?? false { break }
                    plan.staying[u.id] = nil
                    repacking.append(u)
                    remaining -= u.total - u.used
                    repackBytes += u.size
                }
            }
        }
        // A blob another staying pack also holds need not be copied.
        var held = Set<BlobKey>()
        for (_, entries) in plan.staying { for e in entries { held.insert(BlobKey(type: e.type, id: e.id)) } }
        for u in repacking {
            plan.repack.append(u.id)
            plan.stats.packsToRepack += 1
            plan.stats.bytesToRepack += u.size
            let copy = u.owned.filter { held.insert(BlobKey(type: $0.type, id: $0.id)).inserted }
            plan.copy[u.id] = copy
            plan.stats.blobsToCopy += copy.count
            plan.stats.bytesToCopy += copy.reduce(0) { $0 + UInt64($1.storedLength) }
        }
        plan.stats.packsToKeep = plan.staying.count
        plan.stats.bytesToKeep = plan.staying.keys.reduce(0) { $0 + stored[$1]! }
        plan.stats.unusedAfter = remaining
        let after = plan.stats.usedBytes + remaining
        plan.stats.unusedShareAfter = after == 0 ? 0 : Double(remaining) / Double(after)
        return plan
    }

    /// Every blob the snapshots reference: their trees (all of which must load) and the
    /// data blobs the trees name. An unreadable snapshot or tree stops prune: deleting
    /// anything then could delete what that snapshot needs.
    func markUsed(_ stats: inout PruneStats) throws -> Set<BlobKey> {
        let (snapshots, bad) = try repo.snapshots()
        if let (id, e) = bad.first {
            throw RepositoryError.damaged("snapshot \(id.short) cannot be read (\(e)); prune deletes nothing while a snapshot cannot be read: run `cairn check` and `cairn repair snapshots --remove-unreadable`")
        }
        stats.snapshots = snapshots.count
        var needed = Set<BlobKey>()
        try TreeClosure.walk(repo, roots: snapshots.compactMap { $0.1.treeID }, failed: { tid, error in
            throw RepositoryError.damaged("tree \(tid.short) cannot be read (\(error)); prune deletes nothing until `cairn check` and repair have run")
        }) { tid, tree in
            needed.insert(BlobKey(type: .tree, id: tid))
            progress.update { $0.dirs += 1 }
            for n in tree.nodes {
                if case .chunks(let ids) = n.content { for d in ids { needed.insert(BlobKey(type: .data, id: d)) } }
            }
        }
        return needed
    }
}
