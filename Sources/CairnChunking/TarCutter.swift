/// How a stream is cut: `tar` cuts at member boundaries, `raw` is plain FastCDC, `auto` is tar
/// when the first 512 bytes are a tar header with the ustar magic or of the v7 form (`tar`
/// needs only a header block there: checksum and size).
public enum StreamFormat: String, Sendable, CaseIterable {
    case auto, tar, raw
}

/// Tar-aware cuts (spec §13.4): each header group (GNU long name/link and pax records, the
/// member's header, GNU sparse extension blocks) is one chunk, and each member's data with its
/// padding is cut by FastCDC as if it were a stream of its own. From an end-of-archive block,
/// or from a block that is not a valid header, the rest of the stream is plain FastCDC.
///
/// Fed the stream in order: `cut` gets the bytes from the current position, at least `max`
/// of them unless at stream end, like `FastCDC.cut`. The bytes are never changed.
public struct TarCutter {
    public let cdc: FastCDC
    enum State {
        /// At (or inside) a header group: `pending` bytes of a group record's data still to
        /// take; `sparseData` set while reading GNU sparse extension blocks (the member's data
        /// size follows them).
        case group(pending: UInt64, sparseData: UInt64?)
        case data(remaining: UInt64)
        case raw
    }
    var state: State
    /// The `size` of a pax record in the current header group, for its member header.
    var paxSize: UInt64?
    var first = true
    let forced: Bool
    /// Stream offset of the next chunk.
    public private(set) var position: UInt64 = 0
    /// Where tar-aware cutting gave up on a block that is not a valid header (nil when it did not).
    public private(set) var fallbackOffset: UInt64?
    /// Where the end-of-archive block starts, when one was reached.
    public private(set) var endOfArchive: UInt64?

    public init(cdc: FastCDC, format: StreamFormat) {
        self.cdc = cdc
        forced = format == .tar
        // A chunk holds at least one header block: smaller maxima are cut plainly.
        state = format == .raw || cdc.parameters.max < TarHeader.blockSize ? .raw : .group(pending: 0, sparseData: nil)
        if forced && cdc.parameters.max < TarHeader.blockSize { fallbackOffset = 0 }
    }

    /// True when the stream was recognised as tar (cuts followed its members for a while).
    public var isTar: Bool { !first }

    /// What to tell the user when the stream stopped being cut as tar before its end-of-archive.
    public var notice: String? {
        fallbackOffset.map { (fallbackReason.map { $0 + ": " } ?? "") + "not a tar stream from byte \($0): plain chunking for the rest" }
    }
    /// Why tar-aware cutting gave up, when it was more than a block that is not a header.
    public private(set) var fallbackReason: String?

    public mutating func cut(_ data: UnsafeRawBufferPointer) -> Int {
        let n = next(data)
        position += UInt64(n)
        return n
    }

    mutating func next(_ w: UnsafeRawBufferPointer) -> Int {
        switch state {
        case .raw:
            return cdc.cut(w)
        case .data(let remaining):
            let n = remaining < UInt64(w.count) ? cdc.cut(UnsafeRawBufferPointer(rebasing: w[0..<Int(remaining)])) : cdc.cut(w)
            state = UInt64(n) == remaining ? .group(pending: 0, sparseData: nil) : .data(remaining: remaining - UInt64(n))
            return n
        case .group(let pending, let sparseData):
            return group(w, pending: pending, sparseData: sparseData)
        }
    }

    /// Takes the header group from the start of `w`, up to `max` bytes (a longer group goes on
    /// in the next chunk; group record data is split at `max`, header blocks never).
    mutating func group(_ w: UnsafeRawBufferPointer, pending: UInt64, sparseData: UInt64?) -> Int {
        let bs = TarHeader.blockSize
        let limit = Swift.min(w.count, cdc.parameters.max)
        var pending = pending, sparseData = sparseData
        var off = 0
        while true {
            if pending > 0 {
                let take = Swift.min(pending, UInt64(limit - off))
                off += Int(take); pending -= take
                if pending > 0 { state = .group(pending: pending, sparseData: nil); return off }
            }
            if off + bs > limit {
                if off > 0 { state = .group(pending: 0, sparseData: sparseData); return off }
                return fallBack(w)   // fewer than 512 bytes left: a truncated archive
            }
            let block = UnsafeRawBufferPointer(rebasing: w[off..<(off + bs)])
            if let size = sparseData {
                off += bs
                if TarHeader.extensionContinues(block) { continue }
                return member(off, size, w)
            }
            let h = TarHeader(block)
            if h.isZero {
                if off > 0 { state = .group(pending: 0, sparseData: nil); return off }
                if first && !forced { return fallBack(w) }   // zeros: not a tar
                endOfArchive = position
                state = .raw
                return cdc.cut(w)
            }
            // Under auto the first header must also look like tar (magic or v7); a forced
            // format asks only what every header must pass (spec §13.4 "Detection").
            guard first && !forced ? h.isPlausibleFirst : h.checksumIsValid, let size = h.paddedDataSize else {
                if off > 0 { state = .group(pending: 0, sparseData: nil); return off }
                return fallBack(w)
            }
            first = false
            off += bs
            if h.isGroupRecord {
                // A pax size record (a member over 8 GiB) overrides the member header's field.
                if h.typeflag == 0x78 || h.typeflag == 0x58, let raw = h.size, raw <= UInt64(limit - off) {
                    switch TarHeader.paxSize(UnsafeRawBufferPointer(rebasing: w[off..<(off + Int(raw))])) {
                    case .none: break
                    case .valid(let s): paxSize = s
                    case .invalid(let v):
                        // Where the member's data ends is unknown: not tar from this header on.
                        off -= bs
                        if off > 0 { state = .group(pending: 0, sparseData: nil); return off }
                        fallbackReason = "the pax header at byte \(position) has an invalid size \"\(String(decoding: v, as: UTF8.self))\""
                        return fallBack(w)
                    }
                }
                pending = size; continue
            }
            var dataSize = size
            if let s = paxSize, !(0x31...0x36).contains(h.typeflag) { dataSize = (s + 511) & ~511 }
            paxSize = nil
            if h.isExtendedSparse { sparseData = dataSize; continue }
            return member(off, dataSize, w)
        }
    }

    /// The group ends at `end`; `size` bytes of member data follow. A small member's data
    /// (at most `min / 4` bytes, and the whole chunk within `max`) stays in the group's chunk:
    /// one blob instead of two per small file, so fewer index entries and better compression,
    /// for little when only its header changes (spec §13.4).
    mutating func member(_ end: Int, _ size: UInt64, _ w: UnsafeRawBufferPointer) -> Int {
        guard size > 0 else { state = .group(pending: 0, sparseData: nil); return end }
        let p = cdc.parameters
        if size <= UInt64(p.min / 4) && UInt64(end) + size <= UInt64(p.max) {
            // `w` holds `max` bytes unless the stream ends first: then the chunk ends with it.
            let total = Swift.min(end + Int(size), w.count)
            let left = size - UInt64(total - end)
            state = left > 0 ? .data(remaining: left) : .group(pending: 0, sparseData: nil)
            return total
        }
        state = .data(remaining: size)
        return end
    }

    /// Plain FastCDC from here on; reported unless this is an undeclared stream that never
    /// looked like tar.
    mutating func fallBack(_ w: UnsafeRawBufferPointer) -> Int {
        if !first || forced { fallbackOffset = position }
        state = .raw
        return cdc.cut(w)
    }
}
