/// One `Range: bytes=…` request against an object of `size` bytes (RFC 9110 §14.1.2).
enum ByteRange: Equatable {
    /// Serve the whole object (no header, or one this server ignores, such as several ranges).
    case whole
    /// Serve `start...end` (inclusive) with 206.
    case part(start: UInt64, end: UInt64)
    /// 416.
    case unsatisfiable

    init(header: String?, size: UInt64) {
        guard let header else { self = .whole; return }
        let h = header.filter { $0 != " " }
        guard h.hasPrefix("bytes="), !h.contains(",") else { self = .whole; return }
        let spec = h.dropFirst(6)
        guard let dash = spec.firstIndex(of: "-") else { self = .whole; return }
        let first = spec[..<dash], last = spec[spec.index(after: dash)...]
        if first.isEmpty {   // bytes=-N: the last N bytes
            guard let n = UInt64(last) else { self = .whole; return }
            guard n > 0, size > 0 else { self = .unsatisfiable; return }
            self = .part(start: size - min(n, size), end: size - 1)
            return
        }
        guard let start = UInt64(first) else { self = .whole; return }
        guard start < size else { self = .unsatisfiable; return }
        if last.isEmpty { self = .part(start: start, end: size - 1); return }
        guard let end = UInt64(last), end >= start else { self = .whole; return }
        self = .part(start: start, end: min(end, size - 1))
    }
}
