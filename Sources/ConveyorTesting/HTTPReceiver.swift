import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A tiny HTTP/1.1 server on 127.0.0.1 that records each request. It answers `500` to the first
/// `failFirst` requests and then what `reply` says for the request's path (`201` by default), closing
/// the connection each time. With `silent` it listens but never accepts (to test client timeouts).
public final class HTTPReceiver: Sendable {
    /// The whole raw response for a request path, or nil for the default `201 ok`.
    public typealias Reply = @Sendable (_ path: String) -> String?

    public struct Request: Sendable {
        public var method: String
        public var path: String
        /// Lower-case names.
        public var headers: [String: String]
        public var body: [UInt8]
        public var bodyText: String { String(decoding: body, as: UTF8.self) }
        public var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]) ?? [:] }
    }

    private struct State {
        var received: [Request] = []
        var failuresLeft: Int
    }

    private let state: Mutex<State>
    private let reply: Reply?
    private let listener: Int32
    public let port: Int

    public init(failFirst: Int = 0, silent: Bool = false, reply: Reply? = nil) throws {
        state = Mutex(State(failuresLeft: failFirst))
        self.reply = reply
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard fd >= 0, bound == 0, listen(fd, 16) == 0 else {
            if fd >= 0 { close(fd) }
            throw ReceiverError()
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        if !silent {
            let thread = Thread { [self] in serve() }
            thread.start()
        }
    }

    public struct ReceiverError: Error {}

    public var url: String { "http://127.0.0.1:\(port)" }

    public var requests: [Request] { state.withLock { $0.received } }

    public func requests(path: String) -> [Request] { requests.filter { $0.path == path } }

    /// Stops accepting; the serving thread ends.
    public func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func serve() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { return }
            let request = Self.read(client)
            let fail = state.withLock { state -> Bool in
                if let request { state.received.append(request) }
                if state.failuresLeft > 0 { state.failuresLeft -= 1; return true }
                return false
            }
            let answer = fail ? "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nConnection: close\r\n\r\nboom"
                : reply?(request?.path ?? "") ?? "HTTP/1.1 201 Created\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            let bytes = Array(answer.utf8)
            var sent = 0
            while sent < bytes.count {
                let count = bytes[sent...].withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if count <= 0 { break }
                sent += count
            }
            close(client)
        }
    }

    private static func read(_ fd: Int32) -> Request? {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var headerEnd: Int?
        var expected = Int.max
        while data.count < expected {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            data += buffer[0..<count]
            if headerEnd == nil, let end = find(data, Array("\r\n\r\n".utf8)) {
                headerEnd = end + 4
                let head = String(decoding: data[0..<end], as: UTF8.self)
                let length = parseHead(head).headers["content-length"].flatMap { Int($0) } ?? 0
                expected = end + 4 + length
            }
        }
        guard let headerEnd else { return nil }
        var request = parseHead(String(decoding: data[0..<(headerEnd - 4)], as: UTF8.self))
        request.body = Array(data[headerEnd...])
        return request
    }

    private static func parseHead(_ head: String) -> Request {
        let lines = head.components(separatedBy: "\r\n")
        let parts = (lines.first ?? "").split(separator: " ")
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Request(method: parts.first.map(String.init) ?? "", path: parts.dropFirst().first.map(String.init) ?? "",
                       headers: headers, body: [])
    }

    private static func find(_ haystack: [UInt8], _ needle: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where Array(haystack[start..<(start + needle.count)]) == needle {
            return start
        }
        return nil
    }
}
