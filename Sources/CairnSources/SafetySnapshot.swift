import CairnCore
import CairnArchive
import CairnRetention
import CairnTree
import CairnFormat
import CairnRepository

/// A restore that replaces something that exists (an instance, a volume) first exports its
/// current state into a snapshot tagged `safety`, `KIND` and `KIND:NAME`. If the restore then
/// fails, the target is rebuilt from that snapshot (the same remove, create and import
/// steps, fed from the safety snapshot), and every step is reported through `say`.
public struct ReplacePlan: Sendable, Equatable {
    /// Writes the current state to standard output (its tool's export).
    public var exportCurrent: [String]
    /// Removes the current target. A refusal (a volume in use) leaves everything as it was.
    public var remove: [[String]]
    /// Makes an empty target for the import (none for incus: the import creates the instance).
    public var create: [[String]]
    /// Reads a stream on standard input into the target.
    public var importing: [String]
    /// Rollback: clears what the failed restore left (failures ignored), then makes an empty
    /// target again, before the safety snapshot is imported.
    public var rollbackCleanUp: [[String]]
    public var rollbackCreate: [[String]]
    /// Runs after a successful rollback (`incus start` for an instance that was running).
    public var afterRollback: [[String]]

    public init(exportCurrent: [String], remove: [[String]], create: [[String]], importing: [String],
                rollbackCleanUp: [[String]], rollbackCreate: [[String]], afterRollback: [[String]] = []) {
        self.exportCurrent = exportCurrent; self.remove = remove; self.create = create; self.importing = importing
        self.rollbackCleanUp = rollbackCleanUp; self.rollbackCreate = rollbackCreate; self.afterRollback = afterRollback
    }
}

public enum SafetySnapshot {
    /// Replaces `target` with the stream `node`: safety snapshot, remove, create, import; on a
    /// failed import, rollback from the safety snapshot. Returns the safety snapshot's ID;
    /// throws when the restore failed (after the rollback, which `say` reports).
    @discardableResult
    public static func replace(_ target: SourceRef, with node: Node, plan: ReplacePlan, repo: Repository,
                               options: BackupOptions, say: (String) -> Void) throws -> ID {
        let safety = try Tool.backup(plan.exportCurrent, into: repo, options: options, source: target, extraTags: [safetyTag])
        guard let safetyID = safety.snapshotID else { throw SourceError.invalid("no safety snapshot was saved (dry run?)") }
        say("safety snapshot \(safetyID.short) saved: the current \(target) (\(formatSize(safety.snapshot.summary.totalBytes)))")
        do {
            for argv in plan.remove { try Tool.run(argv) }
        } catch {
            say("could not remove the current \(target): nothing was changed")
            throw error
        }
        do {
            for argv in plan.create { try Tool.run(argv) }
            try Tool.feed(plan.importing, from: repo, node: node)
            return safetyID
        } catch {
            say("restore of \(target) failed: \(error)")
            say("rolling back: restoring \(target) from safety snapshot \(safetyID.short)")
            do {
                for argv in plan.rollbackCleanUp { _ = try? Tool.status(argv) }
                for argv in plan.rollbackCreate { try Tool.run(argv) }
                try Tool.feed(plan.importing, from: repo, node: try repo.streamNode(safety.snapshot))
                for argv in plan.afterRollback { try Tool.run(argv) }
                say("rolled back: \(target) is as it was before the restore")
            } catch let rollbackError {
                say("ROLLBACK FAILED: \(rollbackError). The previous \(target) is in snapshot \(safetyID.short): "
                    + "restore it with `cairn restore \(target.kind.rawValue) \(safetyID.short) --name \(target.name)`")
            }
            throw error
        }
    }

    static func formatSize(_ n: UInt64) -> String {
        n < 1024 ? "\(n) B" : n < 1 << 20 ? "\(n >> 10) KiB" : n < 1 << 30 ? "\(n >> 20) MiB" : "\(n >> 30) GiB"
    }
}
