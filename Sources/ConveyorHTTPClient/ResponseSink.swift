import CCurl

/// Collects one response from libcurl's write and header callbacks.
///
/// Only used during `curl_easy_perform` on the handle's own thread; curl gets an unretained pointer
/// to it while the caller keeps it alive.
final class ResponseSink {
    var body: [UInt8] = []
    var headers: [String: String] = [:]
    /// Set when the body passed `maxBodyBytes` and the transfer was stopped.
    private(set) var overflowed = false
    let maxBodyBytes: Int

    init(maxBodyBytes: Int) {
        self.maxBodyBytes = maxBodyBytes
    }

    func header(line: String) {
        let trimmed = line.trimmingCharacters(in: " \t\r\n")
        if trimmed.hasPrefix("HTTP/") {
            headers.removeAll()  // a new response (after 100 Continue or a redirect) starts
            return
        }
        guard let colon = trimmed.firstIndex(of: ":") else { return }
        let name = trimmed[..<colon].lowercased()
        let value = trimmed[trimmed.index(after: colon)...].trimmingCharacters(in: " \t")
        if let existing = headers[name] {
            headers[name] = existing + ", " + value
        } else {
            headers[name] = value
        }
    }

    var pointer: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    static func from(_ pointer: UnsafeMutableRawPointer?) -> ResponseSink? {
        pointer.map { Unmanaged<ResponseSink>.fromOpaque($0).takeUnretainedValue() }
    }

    /// CURLOPT_WRITEFUNCTION: appends body bytes.
    static let write: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = {
        data, size, count, context in
        let length = size * count
        guard let sink = from(context), let data else { return 0 }
        // A short count makes libcurl stop with CURLE_WRITE_ERROR: the body never grows past the cap
        // (CURLOPT_MAXFILESIZE only catches an announced Content-Length).
        guard sink.body.count + length <= sink.maxBodyBytes else {
            sink.overflowed = true
            return 0
        }
        data.withMemoryRebound(to: UInt8.self, capacity: length) {
            sink.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: length))
        }
        return length
    }

    /// CURLOPT_HEADERFUNCTION: called once per header line.
    static let header: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = {
        data, size, count, context in
        let length = size * count
        guard let sink = from(context), let data else { return 0 }
        let line = data.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
        sink.header(line: line)
        return length
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        var scalars = Substring(self)
        while let first = scalars.first, set.contains(first) { scalars.removeFirst() }
        while let last = scalars.last, set.contains(last) { scalars.removeLast() }
        return String(scalars)
    }
}
