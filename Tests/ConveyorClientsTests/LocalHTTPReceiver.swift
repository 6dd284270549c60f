import ConveyorTesting

/// The HTTP client tests' receiver: ConveyorTesting's `HTTPReceiver` with replies by path.
/// `/redirect` answers 302 to `/elsewhere`; `/big/N` sends N bytes without a length (read to the
/// close), `/sized/N` with one; anything else `200 ok` with `X-Echo: yes`.
enum LocalHTTPReceiver {
    static func start(silent: Bool = false) throws -> HTTPReceiver {
        try HTTPReceiver(silent: silent, reply: reply(to:))
    }

    @Sendable private static func reply(to path: String) -> String? {
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
}
