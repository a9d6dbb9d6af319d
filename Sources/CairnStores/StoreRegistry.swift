import CairnCore
import CairnHTTP
import CairnStorage
#if canImport(Glibc)
import Glibc
#endif

/// How a store is reached and what goes around it: retries, time limit, rate limits, the
/// meter that counts its bytes, dry run. The CLI fills it from its global options.
public struct TransferSettings: Sendable {
    /// Retries of a transient failure (`--retries`): 9, about a minute of backoff.
    public var retries = 9
    /// Time limit of one HTTP request (`--timeout`).
    public var timeoutSeconds = 120
    /// `--limit-upload`, `--limit-download` (KiB/s; nil or 0: none).
    public var limitUploadKiB: Int?
    public var limitDownloadKiB: Int?
    /// Counts the bytes read and written, when given.
    public var meter: TransferMeter?
    /// Records writes and deletes instead of doing them, when given.
    public var dryRun: DryRunRecord?

    public init() {}

    public var retry: RetryPolicy { RetryPolicy(attempts: retries + 1) }
    /// For stores that retry each HTTP request themselves.
    public var http: HTTPExchange { HTTPExchange(timeoutSeconds: timeoutSeconds, retry: retry) }
}

/// One kind of store, known by the prefix of its locations (`sftp:` …).
public struct StoreScheme: Sendable {
    /// Locations starting with `name:` are this scheme's.
    public var name: String
    /// How its locations are written, for the message about an unknown scheme.
    public var usage: String
    /// Whether the store retries transient failures itself (HTTP stores, per request); if
    /// not, the registry wraps it in a RetryingBackend. Never both.
    public var retriesItself: Bool
    /// Makes the store from what follows `name:`, the transfer settings and the environment
    /// (credentials, CAIRN_SFTP_COMMAND). Wrappers are the registry's business, not this.
    public var make: @Sendable (_ location: String, _ transfer: TransferSettings, _ environment: [String: String]) throws -> any Backend

    public init(name: String, usage: String, retriesItself: Bool = false,
                make: @escaping @Sendable (_ location: String, _ transfer: TransferSettings, _ environment: [String: String]) throws -> any Backend) {
        self.name = name; self.usage = usage; self.retriesItself = retriesItself; self.make = make
    }
}

/// The schemes a repository location may name, and the one place a location becomes a store
/// with its wrappers. Adding a store: implement `Backend`, then one `register` call (the
/// built-in ones are in `StoreRegistry.standard`).
///
/// A location is `SCHEME:REST` for a registered scheme, else a plain local path — unless it
/// looks like a scheme this tool does not know (`unknownScheme`), which is refused with the
/// list of schemes rather than made into a folder called `xyz:`.
public final class StoreRegistry: Sendable {
    let schemes = Locked<[StoreScheme]>([])
    /// Plain paths (no scheme) are made by this scheme.
    public let plainPathScheme: String

    public init(plainPathScheme: String = "local") { self.plainPathScheme = plainPathScheme }

    /// Adds a scheme, or replaces the one of the same name (keeping its place in the list).
    public func register(_ scheme: StoreScheme) {
        schemes.withLock { list in
            if let i = list.firstIndex(where: { $0.name == scheme.name }) { list[i] = scheme } else { list.append(scheme) }
        }
    }

    public var registered: [StoreScheme] { schemes.withLock { $0 } }

    /// The scheme of `location` and what follows its prefix; a plain path is the plain-path
    /// scheme's. Throws StoreLocationError for a scheme nobody registered.
    public func scheme(of location: String) throws -> (StoreScheme, String) {
        let list = registered
        if let s = list.first(where: { location.hasPrefix($0.name + ":") }) {
            return (s, String(location.dropFirst(s.name.count + 1)))
        }
        if let scheme = Self.unknownScheme(location) {
            throw StoreLocationError("unknown repository scheme \"\(scheme):\" in \(location): supported are \(Self.listed(list.map(\.usage))). "
                + "For a local folder whose name has a colon, write ./\(location) or local:\(location)")
        }
        guard let plain = list.first(where: { $0.name == plainPathScheme }) else {
            throw StoreLocationError("no store for the plain path \(location): the \(plainPathScheme): scheme is not registered")
        }
        return (plain, location)
    }

    /// The store itself, without wrappers.
    public func store(for location: String, transfer: TransferSettings = TransferSettings(),
                      environment: [String: String] = [:]) throws -> any Backend {
        let (scheme, rest) = try scheme(of: location)
        return try scheme.make(rest, transfer, environment)
    }

    /// The store with its wrappers, outermost first:
    ///
    ///     DryRunBackend → MeteredBackend → RetryingBackend → RateLimitedBackend → store
    ///
    /// Dry run outermost: nothing under it sees a write. The meter counts each call's payload
    /// once, above the retries. Retries above the rate limit, so each attempt is paced. A
    /// wrapper with nothing to do (no limit, no meter, a store that retries itself) is left out.
    public func open(_ location: String, transfer: TransferSettings = TransferSettings(),
                     environment: [String: String] = [:]) throws -> any Backend {
        let (scheme, rest) = try scheme(of: location)
        return Self.wrap(try scheme.make(rest, transfer, environment), transfer: transfer, retry: !scheme.retriesItself)
    }

    /// Puts the wrappers `transfer` asks for around `store` (the order of `open`).
    public static func wrap(_ store: any Backend, transfer: TransferSettings, retry: Bool) -> any Backend {
        var b = store
        let up = RateLimiter(kibPerSecond: transfer.limitUploadKiB), down = RateLimiter(kibPerSecond: transfer.limitDownloadKiB)
        if up != nil || down != nil { b = rateLimited(b, upload: up, download: down) }
        if retry { b = retrying(b, transfer.retry) }
        if let meter = transfer.meter { b = metered(b, meter) }
        if let record = transfer.dryRun { b = dryRun(b, record) }
        return b
    }

    // Each opens the existential, so the wrapper is made over the concrete store type and
    // its conditional conformances (SpoolingBackend, MultipartBackend …) hold.
    static func rateLimited(_ b: some Backend, upload: RateLimiter?, download: RateLimiter?) -> any Backend {
        RateLimitedBackend(b, upload: upload, download: download)
    }
    static func retrying(_ b: some Backend, _ policy: RetryPolicy) -> any Backend { RetryingBackend(b, policy: policy) }
    static func metered(_ b: some Backend, _ meter: TransferMeter) -> any Backend { MeteredBackend(b, meter: meter) }
    static func dryRun(_ b: some Backend, _ record: DryRunRecord) -> any Backend { DryRunBackend(b, record: record) }

    /// "a, b, c and d".
    static func listed(_ items: [String]) -> String {
        guard items.count > 1 else { return items.first ?? "" }
        return items.dropLast().joined(separator: ", ") + " and " + items.last!
    }

    /// The scheme of a location that starts like a URL with a scheme this tool does not know:
    /// `xyz://...` always; `xyz:...` when no such local path exists. A path starting with `/`
    /// or `.`, and a one-letter drive (`C:`), are never taken for a scheme.
    public static func unknownScheme(_ location: String) -> String? {
        guard let colon = location.firstIndex(of: ":") else { return nil }
        let scheme = location[..<colon]
        guard scheme.count >= 2, let first = scheme.first, first.isASCII, first.isLetter,
              scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" || $0 == ".") }) else { return nil }
        if location[colon...].hasPrefix("://") { return String(scheme) }
        return access(location, F_OK) == 0 ? nil : String(scheme)
    }

    /// Packs in flight at once. One by default for every store: a pack cut short by `kill -9`
    /// or a lost link is sent again whole by the next run, so each extra connection can add
    /// a pack to what an interrupted backup re-sends. Parallel requests help on links with
    /// high latency; `--connections` raises it.
    public static func defaultConnections(_ backend: any Backend) -> Int { 1 }
}

/// A repository location that names no store this tool has (exit 1, no usage banner).
public struct StoreLocationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
