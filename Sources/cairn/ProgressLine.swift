import CairnCore
import CairnEngine
import Foundation

/// A live one-line status on stderr (files, bytes, rate, ETA when the total is known),
/// redrawn four times a second. Only on a terminal and without --quiet.
final class ProgressLine: @unchecked Sendable {
    let progress: OperationProgress
    let verb: String
    private var thread: Thread?
    private let done = NSCondition()
    private var stopped = false

    init(_ progress: OperationProgress, verb: String, enabled: Bool) {
        self.progress = progress; self.verb = verb
        guard enabled else { return }
        let t = Thread { [self] in
            done.lock()
            while !stopped {
                draw()
                _ = done.wait(until: Date().addingTimeInterval(0.25))
            }
            done.unlock()
        }
        thread = t
        t.start()
    }

    func draw() {
        let c = progress.counters
        let secs = max(0.001, Double(Timestamp.now().nanoseconds - progress.started.nanoseconds) / 1e9)
        let rate = Double(c.bytes) / secs
        var line = "[\(formatDuration(secs))] \(verb) \(c.files) files \(formatBytes(c.bytes)), \(formatBytes(UInt64(rate)))/s"
        if let total = c.totalBytes, total > 0 {
            let pct = min(100, Double(c.bytes) * 100 / Double(total))
            line += String(format: " %.1f%% of %@", pct, formatBytes(total))
            if rate > 0, c.bytes < total { line += " ETA " + formatDuration(Double(total - c.bytes) / rate) }
        }
        if c.errors > 0 { line += ", \(c.errors) errors" }
        FileHandle.standardError.write(Data(("\r\u{1b}[K" + line).utf8))
    }

    func stop() {
        guard thread != nil else { return }
        done.lock(); stopped = true; done.signal(); done.unlock()
        while thread?.isFinished == false { usleep(1000) }
        FileHandle.standardError.write(Data("\r\u{1b}[K".utf8))
        thread = nil
    }
}
