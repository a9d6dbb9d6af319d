import CairnStorage
import Foundation

/// `scripts/fault-proxy.py` in front of a loopback server: cuts or stalls connections once a
/// given number of bytes has gone upstream, and counts the bytes that went through.
final class FaultProxy: @unchecked Sendable {
    let process = Process()
    let port: Int
    let statsFile: String
    let tmp = TempDir()

    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/fault-proxy.py").path
    }

    init(upstreamPort: Int, cutAfter: Int? = nil, downFor: Double = 0, stallAfter: Int? = nil, stallFor: Double = 0) throws {
        statsFile = tmp.sub("stats")
        // The python3 first on PATH (as for the S3 tests' moto).
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        var args = ["python3", Self.script, "--upstream", "127.0.0.1:\(upstreamPort)", "--stats", statsFile]
        if let cutAfter { args += ["--cut-after", String(cutAfter), "--down-for", String(downFor)] }
        if let stallAfter { args += ["--stall-after", String(stallAfter), "--stall-for", String(stallFor)] }
        process.arguments = args
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line: [UInt8] = []
        while let b = try out.fileHandleForReading.read(upToCount: 1), let c = b.first, c != 10 { line.append(c) }
        guard let p = Int(String(decoding: line, as: UTF8.self)) else {
            throw StorageError.io("the fault-injection proxy did not start (python3 on PATH is needed: run scripts/deps.sh --test)")
        }
        port = p
    }

    deinit { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }

    /// Bytes sent upstream and downstream so far, how many cuts happened, and how many
    /// connections were refused while the store was away.
    var stats: (up: Int, down: Int, cuts: Int, refused: Int) {
        let f = (try? String(contentsOfFile: statsFile, encoding: .utf8)) ?? ""
        let v = f.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Int($0) }
        return v.count == 4 ? (v[0], v[1], v[2], v[3]) : (0, 0, 0, 0)
    }
}
