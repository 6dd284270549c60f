import CCurl

/// Sets one request's options on an easy handle, failing with curl's message.
struct Options {
    let curl: UnsafeMutableRawPointer
    let request: HTTPRequest

    func basics(errorBuffer: UnsafeMutablePointer<CChar>, headers: UnsafeMutablePointer<curl_slist>?) throws {
        try set(CURLOPT_ERRORBUFFER, pointer: errorBuffer)
        try set(CURLOPT_URL, string: request.url)
        try set(CURLOPT_NOSIGNAL, 1)
        let timeout = max(1, request.timeout.wholeMilliseconds)
        try set(CURLOPT_TIMEOUT_MS, timeout)
        try set(CURLOPT_CONNECTTIMEOUT_MS, min(timeout, 10_000))
        try set(CURLOPT_HTTPHEADER, pointer: headers)
        // Only http and https, redirects never followed (a URL from a user must not reach file:,
        // gopher:, dict:… or be bounced elsewhere). See docs/security.md ("Outgoing HTTP").
        try set(CURLOPT_PROTOCOLS_STR, string: "http,https")
        try set(CURLOPT_REDIR_PROTOCOLS_STR, string: "http,https")
        try set(CURLOPT_FOLLOWLOCATION, 0)
        try check(cv_curl_set_off(curl, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(request.maxResponseBytes)), "CURLOPT_MAXFILESIZE_LARGE")
    }

    func method() throws {
        switch request.method.uppercased() {
        case "GET" where request.body.isEmpty:
            try set(CURLOPT_HTTPGET, 1)
        case "HEAD":
            try set(CURLOPT_NOBODY, 1)
        default:
            try set(CURLOPT_CUSTOMREQUEST, string: request.method.uppercased())
            // COPYPOSTFIELDS copies the bytes (binary-safe with the size set first).
            try check(cv_curl_set_off(curl, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count)),
                      "CURLOPT_POSTFIELDSIZE_LARGE")
            try request.body.withUnsafeBytes { raw in
                try set(CURLOPT_COPYPOSTFIELDS, pointer: raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1))
            }
        }
    }

    func callbacks(sink: ResponseSink) throws {
        try check(cv_curl_set_write_cb(curl, ResponseSink.write), "CURLOPT_WRITEFUNCTION")
        try set(CURLOPT_WRITEDATA, pointer: sink.pointer)
        try check(cv_curl_set_header_cb(curl, ResponseSink.header), "CURLOPT_HEADERFUNCTION")
        try set(CURLOPT_HEADERDATA, pointer: sink.pointer)
    }

    func signing() throws {
        guard let sigV4 = request.sigV4 else { return }
        try set(CURLOPT_AWS_SIGV4, string: sigV4.provider)
        try set(CURLOPT_USERNAME, string: sigV4.accessKey)
        try set(CURLOPT_PASSWORD, string: sigV4.secretKey)
    }

    private func set(_ option: CURLoption, _ value: Int) throws {
        try check(cv_curl_set_long(curl, option, value), "\(option)")
    }

    /// String options are copied by libcurl, so the temporary C string may go away afterwards.
    private func set(_ option: CURLoption, string: String) throws {
        try check(cv_curl_set_ptr(curl, option, string), "\(option)")
    }

    private func set(_ option: CURLoption, pointer: UnsafeRawPointer?) throws {
        try check(cv_curl_set_ptr(curl, option, pointer), "\(option)")
    }

    private func check(_ code: CURLcode, _ what: String) throws {
        guard code == CURLE_OK else {
            throw HTTPClientError("setting \(what): \(String(cString: cv_curl_easy_strerror(code)))")
        }
    }
}

extension Duration {
    /// Whole milliseconds, clamped to `Int` for libcurl's `_MS` options.
    var wholeMilliseconds: Int {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        return overflow ? Int.max : Int(clamping: scaled + attoseconds / 1_000_000_000_000_000)
    }
}
