#if canImport(Glibc)
import Glibc
#endif

/// Runs work that recurses once per folder level (the archiver's walk, the restorer's, check's)
/// on a thread with a large stack, so a folder chain as deep as a path can be long (PATH_MAX
/// allows about 2 000 levels) never overflows the 8 MiB of the main thread. The stack is
/// address space: only the pages a deep walk touches are ever backed by memory.
public enum LargeStack {
    public static let defaultSize = 512 << 20

    /// Runs `body` on a new thread with a `size`-byte stack and waits for it. If no such
    /// thread can be made, runs it here.
    @discardableResult
    public static func run<T>(size: Int = defaultSize, _ body: () throws -> T) throws -> T {
        try withoutActuallyEscaping(body) { body in
            var result: Result<T, Error>? = nil
            let work = Work { result = Result { try body() } }
            var attr = pthread_attr_t()
            pthread_attr_init(&attr)
            defer { pthread_attr_destroy(&attr) }
            var thread = pthread_t()
            let context = Unmanaged.passRetained(work).toOpaque()
            let started = pthread_attr_setstacksize(&attr, size) == 0
                && pthread_create(&thread, &attr, { arg in
                    Unmanaged<Work>.fromOpaque(arg!).takeRetainedValue().body()
                    return nil
                }, context) == 0
            if started {
                pthread_join(thread, nil)
            } else {
                Unmanaged<Work>.fromOpaque(context).release()
                work.body()
            }
            return try result!.get()
        }
    }

    final class Work: @unchecked Sendable {   // handed to exactly one thread, which the caller joins
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }
}
