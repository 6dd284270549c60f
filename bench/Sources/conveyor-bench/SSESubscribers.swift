import ConveyorThreads
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Live-log subscribers for `conveyor-bench logs`: plain HTTP/1.1 connections to the web role's
/// `GET /api/v1/jobs/{id}/log/stream` (Server-Sent Events), opened and read by a few dedicated
/// threads with poll(2), off Swift's pool. Every line the benchmark's jobs write carries its write
/// time as `@T<uptime ns>`; a subscriber records now − that time for each such line it receives.
final class SSESubscribers: Sendable {
    struct Result: Sendable {
        var latenciesMilliseconds: [Double] = []
        var failed = 0
    }

    /// What the reader threads and the benchmark share.
    final class Signals: Sendable {
        let stopping = Atomic<Bool>(false)
        /// Connections whose response began with `HTTP/1.1 200` (the route subscribed before answering).
        let answered = Atomic<Int>(0)
    }

    private let threads: [DedicatedThread]
    private let signals: Signals
    private let readers: [Task<Result?, Never>]

    var answered: Int { signals.answered.load(ordering: .relaxed) }

    /// Opens one connection per path, spread over `threads` reader threads.
    init(port: Int, paths: [String], threads count: Int) {
        let threads = (0..<max(1, count)).map { DedicatedThread(name: "sse-subscribers-\($0)") }
        self.threads = threads
        var groups = Array(repeating: [String](), count: threads.count)
        for (index, path) in paths.enumerated() { groups[index % threads.count].append(path) }
        let signals = Signals()
        self.signals = signals
        readers = zip(threads, groups).map { thread, group in
            Task { await thread.run { Self.follow(port: port, paths: group, signals: signals) } }
        }
    }

    /// Stops reading, closes the connections and returns every latency, sorted.
    func stop() async -> Result {
        signals.stopping.store(true, ordering: .relaxed)
        var total = Result()
        for reader in readers {
            if let result = await reader.value {
                total.latenciesMilliseconds += result.latenciesMilliseconds
                total.failed += result.failed
            }
        }
        for thread in threads { thread.shutdown() }
        total.latenciesMilliseconds.sort()
        return total
    }

    /// One thread's loop: connect, send the requests, then read until told to stop.
    static func follow(port: Int, paths: [String], signals: Signals) -> Result {
        var result = Result()
        var fds: [Int32] = []
        for path in paths {
            if let fd = open(port: port, path: path) { fds.append(fd) } else { result.failed += 1 }
        }
        defer { for fd in fds { close(fd) } }
        var polled = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        var pending = Array(repeating: [UInt8](), count: fds.count)
        var status = Array(repeating: false, count: fds.count)
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while !signals.stopping.load(ordering: .relaxed) {
            guard poll(&polled, nfds_t(polled.count), 100) > 0 else { continue }
            let now = DispatchTime.now().uptimeNanoseconds
            for i in polled.indices where polled[i].revents != 0 {
                let n = read(polled[i].fd, &buffer, buffer.count)
                if n <= 0 {
                    if n == 0 || (errno != EAGAIN && errno != EINTR) {
                        polled[i].fd = -1 // poll skips it from now on
                        result.failed += 1
                    }
                    continue
                }
                pending[i] += buffer[0..<n]
                if !status[i] {
                    guard pending[i].count >= 12 else { continue }
                    if pending[i].starts(with: Array("HTTP/1.1 200".utf8)) {
                        status[i] = true
                        signals.answered.add(1, ordering: .relaxed)
                    } else {
                        polled[i].fd = -1
                        result.failed += 1
                        continue
                    }
                }
                scan(&pending[i], now: now, into: &result.latenciesMilliseconds)
            }
        }
        return result
    }

    /// Records now − t for every complete `@T<t>` in `data`, and keeps only what may be the start of
    /// a token cut by the read.
    static func scan(_ data: inout [UInt8], now: UInt64, into latencies: inout [Double]) {
        let at = UInt8(ascii: "@"), t = UInt8(ascii: "T"), zero = UInt8(ascii: "0"), nine = UInt8(ascii: "9")
        let n = data.count
        var keep = n
        var i = 0
        while i + 1 < n {
            guard data[i] == at && data[i + 1] == t else { i += 1; continue }
            var j = i + 2
            var value: UInt64 = 0
            while j < n, data[j] >= zero, data[j] <= nine {
                value = value &* 10 &+ UInt64(data[j] - zero)
                j += 1
            }
            if j == n { keep = i; break }
            if j > i + 2 { latencies.append(Double(Int64(bitPattern: now &- value)) / 1e6) }
            i = j
        }
        if keep == n, n > 0, data[n - 1] == at { keep = n - 1 }
        data.removeFirst(keep)
    }

    /// A blocking connect and request (on a reader thread), then non-blocking reads.
    static func open(port: Int, path: String) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAccept: text/event-stream\r\n\r\n".utf8)
        guard connected == 0, request.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == request.count else {
            close(fd)
            return nil
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        return fd
    }
}
