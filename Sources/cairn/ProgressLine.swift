import CairnCore
import CairnStorage
import CairnTree
import Dispatch
import FoundationEssentials

/// A live one-line status on stderr (files, bytes, rate, ETA when the total is known),
/// redrawn four times a second. Only on a terminal and without --quiet.
final class ProgressLine: @unchecked Sendable {
    let progress: OperationProgress
    let verb: String
    /// Bytes the stores had sent and received before this operation.
    let sentBefore = transferMeter.sent, receivedBefore = transferMeter.received
    private var running = false
    private let stopped = Locked(false)
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)

    init(_ progress: OperationProgress, verb: String, enabled: Bool) {
        self.progress = progress; self.verb = verb
        guard enabled else { return }
        running = true
        DispatchQueue.global(qos: .utility).async { [self] in
            while !stopped.withLock({ $0 }) {
                draw()
                _ = wake.wait(timeout: .now() + .milliseconds(250))
            }
            finished.signal()
        }
    }

    func draw() {
        let c = progress.counters
        let secs = max(0.001, Double(Timestamp.now().nanoseconds - progress.started.nanoseconds) / 1e9)
        let rate = Double(c.bytes) / secs
        var line = "[\(formatDuration(secs))] \(verb) \(c.files) files \(formatBytes(c.bytes)), \(formatBytes(UInt64(rate)))/s"
        if let total = c.totalBytes, total > 0 {
            let pct = min(100, Double(c.bytes) * 100 / Double(total))
            line += " \(fixed(pct, 1))% of \(formatBytes(total))"
            if rate > 0, c.bytes < total { line += " ETA " + formatDuration(Double(total - c.bytes) / rate) }
        }
        let sent = transferMeter.sent - sentBefore, received = transferMeter.received - receivedBefore
        if sent > 0 { line += ", sent \(formatBytes(sent)) at \(formatBytes(UInt64(Double(sent) / secs)))/s" }
        if received > 0 { line += ", received \(formatBytes(received))" }
        if c.errors > 0 { line += ", \(c.errors) errors" }
        try? writeAll(2, ("\r\u{1b}[K" + line).utf8)
    }

    func stop() {
        guard running else { return }
        stopped.withLock { $0 = true }
        wake.signal()
        finished.wait()
        try? writeAll(2, "\r\u{1b}[K".utf8)
        running = false
    }
}
