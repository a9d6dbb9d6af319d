import CairnCore
import CairnCrypto
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// Checks HTTP basic credentials against an htpasswd file, re-reading it when it changes.
///
/// bcrypt is slow by design, so wrong passwords must not be able to starve real clients:
/// - a successful check is remembered for `cacheSeconds` (as an HMAC of user and password
///   under a per-process random key, never the password), at most `cacheEntries` of them,
///   and a remembered pair is answered without bcrypt and without waiting for anything;
/// - at most `hashThreads` checks hash at once on their own threads, `hashQueue` more may
///   wait; beyond that a request gets 503 at once (clients retry);
/// - after `freeFailures` wrong passwords from one client address, that address gets 429
///   without hashing for a delay that doubles with each further failure (1 s … `maxDelay`),
///   forgotten after 15 minutes without failures or on a success.
final class Authenticator: Sendable {
    struct Limits: Sendable {
        var cacheSeconds = 300.0
        var cacheEntries = 1024
        var hashThreads = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        var hashQueue = 8
        var freeFailures = 5
        var maxDelay = 60.0
    }

    enum Outcome: Equatable {
        case allowed(String)
        case denied(String?)
        /// Too many failures from this address: retry after this many seconds.
        case throttled(String?, Int)
        /// Every hashing slot is taken.
        case busy(String?)
    }

    let file: String
    let limits: Limits
    private struct State {
        var users: Htpasswd
        var stamp: [Int]
        var verified: [ID: (user: String, expires: Double)] = [:]
        var lastCheck = 0
        var failures: [String: (count: Int, until: Double, last: Double)] = [:]
        var hashing = 0
    }
    private let state: Locked<State>
    private let key: [UInt8]
    private let hashPool: WorkerPool

    init(file: String, limits: Limits = Limits()) throws {
        self.file = file
        self.limits = limits
        state = Locked(State(users: try Htpasswd.load(file), stamp: Self.stamp(file)))
        key = SystemRandom().bytes(32)
        hashPool = WorkerPool(threads: limits.hashThreads, limit: limits.hashThreads + limits.hashQueue)
    }

    static func stamp(_ file: String) -> [Int] {
        var st = stat()
        guard stat(file, &st) == 0 else { return [] }
        return [Int(st.st_mtim.tv_sec), Int(st.st_mtim.tv_nsec), Int(st.st_size), Int(st.st_ino)]
    }

    static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    /// The users, re-read when the file changed (checked at most once a second); a file that
    /// no longer parses keeps the previous users and is reported once.
    private func users() -> Htpasswd {
        let now = time(nil)
        return state.withLock { s in
            if now != s.lastCheck {
                s.lastCheck = now
                let st = Self.stamp(file)
                if st != s.stamp {
                    s.stamp = st
                    do { s.users = try Htpasswd.load(file); s.verified = [:] }
                    catch { try? writeStderr("cairn serve: keeping the previous users: \(error)\n") }
                }
            }
            return s.users
        }
    }

    /// `Authorization: Basic …` → user and password.
    static func credentials(_ header: String?) -> (user: String, password: String)? {
        guard let header, header.lowercased().hasPrefix("basic "),
              let decoded = Data(base64Encoded: String(header.dropFirst(6).filter { $0 != " " && $0 != "\t" })) else { return nil }
        let text = String(decoding: decoded, as: UTF8.self)
        guard let colon = text.firstIndex(of: ":") else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    /// Decides on a request's credentials; `peer` is the client's address.
    func authenticate(_ header: String?, peer: String?) async -> Outcome {
        guard let (user, password) = Self.credentials(header) else { return .denied(nil) }
        let table = users()
        let tag = HMACSHA256(key: key).mac(Array((user + "\u{0}" + password).utf8))
        let now = Self.now()
        let peer = peer ?? "-"
        let gate: Outcome? = state.withLock { s in
            if let v = s.verified[tag], v.user == user, v.expires > now { return .allowed(user) }
            if let f = s.failures[peer], f.until > now { return .throttled(user, max(1, Int((f.until - now).rounded(.up)))) }
            guard s.hashing < limits.hashThreads + limits.hashQueue else { return .busy(user) }
            s.hashing += 1
            return nil
        }
        if let gate { return gate }
        let pool = hashPool
        let ok = await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            do { try pool.submit { c.resume(returning: table.verify(user: user, password: password)) } }
            catch { c.resume(returning: false) }
        }
        let after = Self.now()
        return state.withLock { s in
            s.hashing -= 1
            if ok {
                s.failures[peer] = nil
                guard s.users == table else { return .allowed(user) }   // the file changed meanwhile
                if s.verified.count >= limits.cacheEntries {
                    s.verified = s.verified.filter { $0.value.expires > after }
                    if s.verified.count >= limits.cacheEntries, let oldest = s.verified.min(by: { $0.value.expires < $1.value.expires }) {
                        s.verified[oldest.key] = nil
                    }
                }
                s.verified[tag] = (user, after + limits.cacheSeconds)
                return .allowed(user)
            }
            var f = s.failures[peer] ?? (0, 0, after)
            if after - f.last > 15 * 60 { f.count = 0 }
            f.count += 1
            f.last = after
            if f.count > limits.freeFailures {
                let exponent = Double(min(f.count - limits.freeFailures - 1, 30))
                f.until = after + min(limits.maxDelay, pow2(exponent))
            }
            s.failures[peer] = f
            if s.failures.count > 10_000 {
                s.failures = s.failures.filter { after - $0.value.last < 15 * 60 }
                if s.failures.count > 10_000 { s.failures = [peer: f] }
            }
            return .denied(user)
        }
    }
}

private func pow2(_ e: Double) -> Double {
    var v = 1.0
    for _ in 0..<Int(e) { v *= 2 }
    return v
}
