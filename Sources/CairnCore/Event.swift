/// Something a long operation tells its caller while it runs. The caller renders it (the CLI
/// prints lines on standard error, `--json` turns them into messages, a server forwards
/// them); library code never prints.
public enum OperationEvent: Sendable, Equatable {
    /// Something went wrong with one item (a file, a source, a snapshot); the operation goes on.
    case warning(String)
    /// A step of a multi-step flow (a safety snapshot saved, a fallback tried, a rollback).
    case step(String)
}

/// How an operation's caller hears of its events.
public typealias EventSink = @Sendable (OperationEvent) -> Void
