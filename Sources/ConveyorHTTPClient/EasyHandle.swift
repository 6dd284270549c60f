import CCurl

/// `curl_global_init` runs once per process, before the first handle (a global `let` is initialised
/// exactly once, thread-safely).
let curlGlobalInit: CURLcode = cv_curl_global_init(Int(CURL_GLOBAL_DEFAULT))

/// One reusable libcurl easy handle (keeping its connection cache between requests).
///
/// `@unchecked Sendable`: created, used and cleaned up only inside closures run on its pool
/// thread, so curl never sees it from two threads at once.
final class EasyHandle: @unchecked Sendable {
    private var curl: UnsafeMutableRawPointer?
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)

    deinit { errorBuffer.deallocate() }

    func perform(_ request: HTTPRequest) throws -> HTTPResponse {
        let curl = try handle()
        cv_curl_easy_reset(curl)
        errorBuffer[0] = 0
        var headers: UnsafeMutablePointer<curl_slist>?
        defer { cv_curl_slist_free_all(headers) }
        for line in headerLines(request) {
            guard let appended = cv_curl_slist_append(headers, line) else {
                throw HTTPClientError("\(request.method) \(request.url): out of memory for headers")
            }
            headers = appended
        }
        let sink = ResponseSink(maxBodyBytes: request.maxResponseBytes)
        let options = Options(curl: curl, request: request)
        try options.basics(errorBuffer: errorBuffer, headers: headers)
        try options.method()
        try options.callbacks(sink: sink)
        try options.signing()
        let code = withExtendedLifetime(sink) { cv_curl_easy_perform(curl) }
        if sink.overflowed || code == CURLE_FILESIZE_EXCEEDED {
            throw HTTPClientError("\(request.method) \(request.url): the response body is larger than \(request.maxResponseBytes) bytes")
        }
        guard code == CURLE_OK else {
            let detail = errorBuffer[0] != 0 ? String(cString: errorBuffer) : String(cString: cv_curl_easy_strerror(code))
            throw HTTPClientError("\(request.method) \(request.url): \(detail)")
        }
        var status = 0
        _ = cv_curl_get_long(curl, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, headers: sink.headers, body: sink.body)
    }

    func cleanup() {
        if let curl { cv_curl_easy_cleanup(curl) }
        curl = nil
    }

    private func handle() throws -> UnsafeMutableRawPointer {
        if let curl { return curl }
        if let error = cv_curl_load_error() { throw HTTPClientError("loading libcurl: \(String(cString: error))") }
        guard curlGlobalInit == CURLE_OK else { throw HTTPClientError("curl_global_init failed") }
        guard let created = cv_curl_easy_init() else { throw HTTPClientError("curl_easy_init failed") }
        curl = created
        return created
    }

    /// The caller's headers, plus empty `Expect:` (no 100-continue round trip) and, for a body
    /// without a type, an empty `Content-Type:` so curl adds no form type of its own.
    private func headerLines(_ request: HTTPRequest) -> [String] {
        var lines = request.headers.map { "\($0.0): \($0.1)" }
        lines.append("Expect:")
        if !request.body.isEmpty, !request.headers.contains(where: { $0.0.lowercased() == "content-type" }) {
            lines.append("Content-Type:")
        }
        return lines
    }
}
