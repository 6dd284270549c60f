import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A tiny HTTP/1.1 server on 127.0.0.1 for tests: it records each request and answers
/// `200 ok` with `X-Echo: yes`, closing the connection each time. Or, with `silent`, it listens but
/// never accepts (to test client timeouts).
final class LocalHTTPReceiver: Sendable {
    struct Request: Sendable {
        var method: String
        var path: String
        var headers: [String: String]
        var body: [UInt8]
    }

    private let received = Mutex<[Request]>([])
    private let listener: Int32
    let port: Int

    init(silent: Bool = false) throws {
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

    struct ReceiverError: Error {}

    var url: String { "http://127.0.0.1:\(port)" }

    var requests: [Request] { received.withLock { $0 } }

    /// Stops accepting; the serving thread ends.
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func serve() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { return }
            let request = Self.read(client)
            if let request { received.withLock { $0.append(request) } }
            let reply = Array(Self.reply(to: request?.path ?? "").utf8)
            var sent = 0
            while sent < reply.count {
                let count = reply[sent...].withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if count <= 0 { break }
                sent += count
            }
            close(client)
        }
    }

    /// `/redirect` answers 302 to `/elsewhere`; `/big/N` sends N bytes without a length (read to the
    /// close), `/sized/N` with one; anything else `200 ok`.
    private static func reply(to path: String) -> String {
        if path == "/redirect" {
            return "HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        }
        if path.hasPrefix("/big/"), let count = Int(path.dropFirst(5)) {
            return "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + String(repeating: "x", count: count)
        }
        if path.hasPrefix("/sized/"), let count = Int(path.dropFirst(7)) {
            return "HTTP/1.1 200 OK\r\nContent-Length: \(count)\r\nConnection: close\r\n\r\n" + String(repeating: "x", count: count)
        }
        return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Echo: yes\r\nConnection: close\r\n\r\nok"
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
                let length = parseHeaders(head).headers["content-length"].flatMap { Int($0) } ?? 0
                expected = end + 4 + length
            }
        }
        guard let headerEnd else { return nil }
        var request = parseHeaders(String(decoding: data[0..<(headerEnd - 4)], as: UTF8.self))
        request.body = Array(data[headerEnd...])
        return request
    }

    private static func parseHeaders(_ head: String) -> Request {
        let lines = head.components(separatedBy: "\r\n")
        let parts = (lines.first ?? "").split(separator: " ")
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...]
                .trimmingCharacters(in: .whitespaces)
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
