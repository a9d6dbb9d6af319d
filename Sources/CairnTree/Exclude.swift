#if canImport(Glibc)
import Glibc
#endif

/// restic-style excludes: a pattern without "/" matches any file or folder name; a pattern
/// with "/" matches the whole absolute path (and everything below a matching folder).
/// Shell glob syntax (`*`, `?`, `[...]`); `**` matches across folders.
package struct ExcludeMatcher: Sendable {
    package let patterns: [[UInt8]]

    package init(patterns: [String]) { self.patterns = patterns.filter { !$0.isEmpty }.map { Array($0.utf8) } }

    package func excluded(_ path: PathBytes, name: PathBytes) -> Bool {
        for p in patterns {
            if p.contains(47) {
                if match(p, path) { return true }
            } else if match(p, name) {
                return true
            }
        }
        return false
    }

    /// The index of the first pattern that matches `path` (absolute) or one of the folders
    /// above it, so a pattern naming a folder takes in everything below it.
    package func firstMatch(selfOrAncestorOf path: PathBytes) -> Int? {
        var end = path.count
        while end > 0 {
            let p = Array(path[..<end])
            let nameStart = p.lastIndex(of: 47).map { $0 + 1 } ?? 0
            let name = Array(p[nameStart...])
            if let i = patterns.indices.first(where: { patterns[$0].contains(47) ? match(patterns[$0], p) : match(patterns[$0], name) }) { return i }
            guard let slash = p.lastIndex(of: 47) else { break }
            end = slash
        }
        return nil
    }

    func match(_ pattern: [UInt8], _ text: PathBytes) -> Bool { Self.glob(pattern, text) }

    /// Shell glob match of a whole text; `**` is `*`, and without FNM_PATHNAME `*` spans "/".
    static func glob(_ pattern: [UInt8], _ text: PathBytes) -> Bool {
        let pat = pattern.replacing([42, 42], with: [42])
        return FS.withCString(pat) { p in FS.withCString(text) { t in fnmatch(p, t, 0) == 0 } }
    }
}

/// restic's path pattern (`restic find`, its filter.Match): the pattern's components, split at
/// "/", each a glob, match consecutive components of the path anywhere in it, so `foo` finds
/// a file or folder named foo and everything below it, and `a/*.txt` the .txt files in any
/// folder a. A pattern starting with "/" must match from the root; a `**` component matches
/// any number of components. The empty pattern matches everything.
public struct PathPattern: Sendable {
    let parts: [[UInt8]]
    let rooted: Bool
    let ignoreCase: Bool

    public init(_ pattern: String, ignoreCase: Bool = false) {
        let text = ignoreCase ? pattern.lowercased() : pattern
        rooted = text.hasPrefix("/")
        parts = Array(text.utf8).split(separator: 47, omittingEmptySubsequences: false).dropFirst(rooted ? 1 : 0).map(Array.init)
        self.ignoreCase = ignoreCase
    }

    /// Whether the absolute path ("/a/b") matches.
    public func matches(_ path: String) -> Bool {
        if parts.isEmpty || parts == [[]] { return true }
        let text = ignoreCase ? path.lowercased() : path
        let comps = Array(text.utf8).split(separator: 47).map(Array.init)
        if rooted { return Self.prefix(parts[...], comps[...]) }
        return comps.indices.contains { Self.prefix(parts[...], comps[$0...]) }
    }

    /// Whether the parts match the first components (the rest of the path may follow).
    static func prefix(_ p: ArraySlice<[UInt8]>, _ c: ArraySlice<[UInt8]>) -> Bool {
        guard let first = p.first else { return true }
        if first == [42, 42] { return (0...c.count).contains { prefix(p.dropFirst(), c.dropFirst($0)) } }
        guard let comp = c.first, ExcludeMatcher.glob(first, comp) else { return false }
        return prefix(p.dropFirst(), c.dropFirst())
    }
}
