import ConveyorThreads
import Foundation

/// An HTTP client over libcurl: a small pool of dedicated threads, each with its own reused easy
/// handle, so blocking transfers never run on Swift's cooperative pool. Call `shutdown()` when done.
public final class CurlHTTPClient: Sendable {
    private struct Worker: Sendable {
        let thread: DedicatedThread
        let handle: EasyHandle
    }

    private let workers: [Worker]
    private let next = RoundRobin()
    private let closed = ClosedFlag()

    public init(threads: Int = 2) {
        workers = (0..<max(1, threads)).map { index in
            Worker(thread: DedicatedThread(name: "curl-\(index)"), handle: EasyHandle())
        }
    }

    deinit { assert(closed.isSet, "CurlHTTPClient was not shut down") }

    /// Sends `request` and returns whatever the server answered (any status); throws only when the
    /// transfer fails (connect error, timeout…), with libcurl's message.
    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let worker = pick()
        do {
            return try await worker.thread.run { [handle = worker.handle] in try handle.perform(request) }
        } catch let error as DedicatedThreadError {
            throw HTTPClientError("\(request.method) \(request.url): \(error)")
        }
    }

    /// Frees the easy handles and stops the threads; later `send` calls fail.
    public func shutdown() async {
        for worker in workers {
            _ = await worker.thread.run { [handle = worker.handle] in handle.cleanup() }
            worker.thread.shutdown()
        }
        closed.set()
    }

    /// The least busy worker, starting the search at a rotating index.
    private func pick() -> Worker {
        let start = next.next()
        var best = workers[start % workers.count]
        for offset in 0..<workers.count {
            let candidate = workers[(start + offset) % workers.count]
            if candidate.thread.backlog < best.thread.backlog { best = candidate }
        }
        return best
    }
}
