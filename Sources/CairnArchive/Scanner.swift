import CairnCore
import CairnTree
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Walks the backup paths with `lstat` only, counting files and bytes, so the progress line
/// can show a percentage and an ETA (restic does the same). Runs beside the archiver and stops
/// early when the operation is cancelled.
enum Scanner {
    static func start(paths: [PathBytes], excludes: ExcludeMatcher, oneFileSystem: Bool, progress: OperationProgress,
                      cancellation: CancellationToken) {
        DispatchQueue.global(qos: .utility).async {
            var files = 0
            var bytes: UInt64 = 0
            func visit(_ path: PathBytes, name: PathBytes, device: UInt64?) {
                if cancellation.isCancelled { return }
                let (st, _) = FS.lstat(path)
                guard let st else { return }
                switch st.st_mode & S_IFMT {
                case S_IFREG: files += 1; bytes += UInt64(st.st_size)
                case S_IFDIR:
                    let dev = UInt64(st.st_dev)
                    if oneFileSystem, let device, device != dev { return }
                    for e in (try? FS.list(path)) ?? [] {
                        let child = FS.join(path, e)
                        if !excludes.excluded(child, name: e) { visit(child, name: e, device: device ?? dev) }
                    }
                default: break
                }
            }
            for p in paths { visit(p, name: Array(p.split(separator: 47).last ?? []), device: nil) }
            if cancellation.isCancelled { return }
            progress.update { $0.totalFiles = files; $0.totalBytes = bytes }
        }
    }
}
