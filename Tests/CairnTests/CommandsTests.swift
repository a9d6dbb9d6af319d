import CairnCommands
import CairnCore
import CairnTree
import CairnRetention
import CairnArchive
import CairnCheck
import CairnFormat
import CairnRepository
import CairnSources
import CairnStorage
import Foundation
import Testing

/// The library's command layer, called as a service would call it: no CLI binary.
@Suite struct CommandsTests {
    /// `days` daily backups of folder `a` at 10:00 UTC on 2026-03-01, 02, ...; the first
    /// tagged `keep`.
    static func daily(_ repo: Repository, _ tmp: TempDir, days: Int) throws -> [ID] {
        var ids: [ID] = []
        for d in 1...days {
            Fixtures.write(tmp.sub("a/f"), Fixtures.random(500, seed: "day\(d)"))
            var o = BackupOptions()
            o.hostname = "h"
            o.tags = d == 1 ? ["keep"] : []
            o.time = Timestamp.parse("2026-03-0\(d)T10:00:00Z")
            ids.append(try #require(try Archiver(repository: repo, options: o).backup(paths: [tmp.sub("a")]).snapshotID))
        }
        return ids
    }

    /// Events a command sent, in order.
    final class Heard: Sendable {
        let events = Locked([CommandEvent]())
        var context: CommandContext { CommandContext(events: { e in self.events.withLock { $0.append(e) } }) }
        var steps: [String] { events.withLock { $0 }.compactMap { if case .step(let s) = $0 { s } else { nil } } }
        var warnings: [String] { events.withLock { $0 }.compactMap { if case .warning(let s) = $0 { s } else { nil } } }
    }

    static var byHost: RetentionGroupBy { RetentionGroupBy(parsing: "host")! }

    @Test func forgetMovesTheSavedPolicyToTheNewestKeptSnapshotBeforeDeletingItsCarrier() throws {
        let tmp = TempDir()
        let repo = try Fixtures.newRepository(tmp)
        _ = try Self.daily(repo, tmp, days: 4)
        var keep2 = RetentionPolicy(); keep2.last = 2
        var scope = PolicyScope(); scope.groupBy = Self.byHost
        let set = try PolicyChangeCommand(policy: keep2, scope: scope).execute(repo)
        let carrier = try #require(set.first?.replaced.first?[1])

        // Without flags the saved policy applies: it keeps the carrier (the newest), nothing moves.
        var fromSaved = ForgetCommand(); fromSaved.groupBy = Self.byHost; fromSaved.dryRun = true
        let plan = try fromSaved.execute(repo)
        #expect(plan.groups.count == 1 && plan.groups[0].saved_policy && plan.groups[0].keep.count == 2)
        #expect(plan.groups[0].keep.contains { $0.id == carrier } && plan.policy_moves.isEmpty)

        // --keep-tag keep removes the carrier: the kept snapshot takes the policy over first.
        var byTag = ForgetCommand(); byTag.groupBy = Self.byHost
        byTag.policy.keepTags = [["keep"]]
        let heard = Heard()
        let r = try byTag.execute(repo, heard.context)
        #expect(r.removed.count == 3 && r.removed.contains(carrier))
        #expect(r.policy_moves.count == 1 && r.policy_moves[0].from == carrier)
        #expect(heard.steps.contains { $0.contains("moves from snapshot \(carrier.prefix(8))") }, "\(heard.steps)")
        let left = try repo.snapshots().snapshots
        #expect(left.count == 1 && left[0].0.hex == r.policy_moves[0].saved_as)
        #expect(left[0].1.retention?.last == 2 && left[0].1.tags == ["keep"])

        // The policy now carried by the heir still applies without flags.
        let again = try { var c = ForgetCommand(); c.groupBy = Self.byHost; c.dryRun = true; return c }().execute(repo)
        #expect(again.groups.first?.saved_policy == true && again.groups_without_policy == 0)
    }

    @Test func aCommandThatChangesTheRepositoryRefusesNoLock() throws {
        let tmp = TempDir()
        let repo = try Fixtures.newRepository(tmp)
        _ = try Self.daily(repo, tmp, days: 1)
        let noLock = CommandContext(noLock: true)
        #expect(throws: CommandError.self) { try ForgetCommand(snapshots: ["latest"]).execute(repo, noLock) }
        #expect(throws: CommandError.self) { try KeyRemoveCommand(id: "00").execute(repo, noLock) }
        #expect(try repo.snapshots().snapshots.count == 1)
        // Reading commands run without one.
        #expect(try KeyListCommand().execute(repo, noLock).count == 1)
        // An exclusive command refuses while another holds a lock.
        let held = try repo.acquireLock(exclusive: false, operation: "backup")
        #expect(throws: RepositoryError.self) { try ForgetCommand(snapshots: ["latest"]).execute(repo) }
        held.release()
        #expect(try ForgetCommand(snapshots: ["latest"]).execute(repo).removed.count == 1)
    }

    @Test func keyPasswdWritesTheNewKeyBeforeDeletingTheOld() throws {
        let tmp = TempDir()
        let repo = try Fixtures.newRepository(tmp)
        var k = NewKey(password: Array("second".utf8)); k.parameters = .init(n: 1024, r: 8, p: 1)
        let added = try KeyAddCommand(k).execute(repo)
        #expect(try KeyListCommand().execute(repo).map(\.id).sorted() == [added.id, repo.keyName].sorted())
        // A key above the KDF ceiling is refused unless allowed.
        var costly = NewKey(password: Array("x".utf8)); costly.parameters = .init(n: 1 << 22, r: 8, p: 1)
        #expect(throws: CommandError.self) { try KeyAddCommand(costly).execute(repo) }
        // The key in use is never removed.
        #expect(throws: CommandError.self) { try KeyRemoveCommand(id: String(repo.keyName.prefix(10))).execute(repo) }

        var third = NewKey(password: Array("third".utf8)); third.parameters = .init(n: 1024, r: 8, p: 1)
        let changed = try KeyPasswdCommand(third).execute(repo)
        #expect(changed.replaced == repo.keyName)
        let names = try repo.backend.list(.key).map(\.name).sorted()
        #expect(names == [added.id, changed.id].sorted())
        let backend = LocalBackend(path: tmp.sub("repo"))
        #expect(throws: RepositoryError.self) { try Repository.open(backend: backend, password: Fixtures.password) }
        #expect(try Repository.open(backend: backend, password: Array("third".utf8)).keyName == changed.id)
    }

    /// A source made in the test: the protocol is all the command needs.
    struct FakeSource: BackupSource {
        let ref: SourceRef
        let bytes: [UInt8]?
        func backup(into repo: Repository, options: BackupOptions, events: EventSink) throws -> BackupResult {
            guard let bytes else { throw SourceError.commandFailed(["export", ref.name], 1) }
            events(.step("exporting"))
            return try Tool.backup(bytes: bytes, into: repo, options: options, source: ref)
        }
    }

    @Test func sourceBackupsGoOnPastAFailedSourceAndInParallel() throws {
        let tmp = TempDir()
        let repo = try Fixtures.newRepository(tmp)
        let sources: [any BackupSource] = (0..<5).map { i in
            FakeSource(ref: SourceRef(.podmanVolume, "v\(i)"), bytes: i == 2 ? nil : Fixtures.random(20_000, seed: "v\(i)"))
        }
        var c = SourceBackupCommand(sources: sources)
        c.parallel = 3
        c.openAnother = { try Repository.open(backend: LocalBackend(path: tmp.sub("repo")), password: Fixtures.password) }
        let heard = Heard()
        let r = try c.execute(repo, heard.context)
        #expect(r.failed == ["podman-volume:v2"] && r.saved.count == 4 && !r.interrupted)
        #expect(r.sources.first { $0.source == "podman-volume:v2" }?.error?.contains("exited with status 1") == true)
        #expect(heard.steps.filter { $0.hasSuffix(": exporting") }.count == 4)
        let snaps = try Fixtures.reopen(tmp).snapshots().snapshots
        #expect(Set(snaps.flatMap(\.1.tags)) == ["podman-volume", "podman-volume:v0", "podman-volume:v1", "podman-volume:v3", "podman-volume:v4"])
        #expect(try Checker(repository: Fixtures.reopen(tmp)).run(readData: true).healthy)
    }

    @Test func backupRestoreAndCheckThroughTheLibrary() throws {
        let tmp = TempDir()
        let repo = try Fixtures.newRepository(tmp)
        Fixtures.write(tmp.sub("src/a/one"), Fixtures.random(30_000, seed: "one"))
        Fixtures.write(tmp.sub("src/two"), Fixtures.random(100, seed: "two"))
        // A path that does not exist is left out with a warning; none existing saves nothing.
        #expect(throws: (any Error).self) { try BackupCommand(.paths([tmp.sub("missing")])).execute(repo) }
        #expect(try repo.snapshots().snapshots.isEmpty)
        #expect(throws: CommandError.self) { try BackupCommand(.paths([tmp.sub("src")])).execute(repo, CommandContext(noLock: true)) }
        let b = try BackupCommand(.paths([tmp.sub("src"), tmp.sub("missing")])).execute(repo)
        let id = try #require(b.snapshot_id)
        #expect(b.summary.totalFiles == 2)
        #expect((b.warnings + b.notices).contains { $0.contains(tmp.sub("missing")) }, "\(b.warnings) \(b.notices)")

        var r = RestoreCommand(snapshot: String(id.prefix(10)), target: tmp.sub("out"))
        r.options.verify = true
        let restored = try r.execute(repo)
        #expect(restored.files == 2 && restored.verified == 2 && restored.warnings.isEmpty)
        #expect(Fixtures.read(tmp.sub("out") + tmp.sub("src/a/one")) == Fixtures.random(30_000, seed: "one"))

        var check = CheckCommand(CheckOptions(readData: .all))
        check.snapshots = ["latest"]
        #expect(try check.execute(repo).healthy)
        #expect(try SnapshotsCommand().execute(repo).map(\.id.hex) == [id])
    }
}
