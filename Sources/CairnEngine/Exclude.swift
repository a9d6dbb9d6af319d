#if canImport(Glibc)
import Glibc
#endif

/// restic-style excludes: a pattern without "/" matches any file or folder name; a pattern
/// with "/" matches the whole absolute path (and everything below a matching folder).
/// Shell glob syntax (`*`, `?`, `[...]`); `**` matches across folders.
struct ExcludeMatcher: Sendable {
    let patterns: [[UInt8]]

    init(patterns: [String]) { self.patterns = patterns.filter { !$0.isEmpty }.map { Array($0.utf8) } }

    func excluded(_ path: PathBytes, name: PathBytes) -> Bool {
        for p in patterns {
            if p.contains(47) {
                if match(p, path) { return true }
            } else if match(p, name) {
                return true
            }
        }
        return false
    }

    func match(_ pattern: [UInt8], _ text: PathBytes) -> Bool {
        let pat = pattern.replacing([42, 42], with: [42])   // fnmatch without FNM_PATHNAME: * spans "/"
        return FS.withCString(pat) { p in FS.withCString(text) { t in fnmatch(p, t, 0) == 0 } }
    }
}
