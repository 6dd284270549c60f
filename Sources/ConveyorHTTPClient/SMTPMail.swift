import CCurl
import ConveyorThreads
import Foundation

/// One email for libcurl's SMTP: `smtp://host:port` (STARTTLS when the server offers it, required
/// with `requireTLS`) or `smtps://host:port` (TLS from the start). `message` is the whole RFC 5322
/// text, headers included (see `SMTPMail.compose`).
public struct SMTPMail: Sendable {
    public var url: String
    public var from: String
    public var recipients: [String]
    public var message: [UInt8]
    public var username: String?
    public var password: String?
    public var requireTLS: Bool
    public var timeout: Duration

    public init(url: String, from: String, recipients: [String], message: [UInt8], username: String? = nil, password: String? = nil,
                requireTLS: Bool = false, timeout: Duration = .seconds(30)) {
        self.url = url
        self.from = from
        self.recipients = recipients
        self.message = message
        self.username = username
        self.password = password
        self.requireTLS = requireTLS
        self.timeout = timeout
    }

    /// A plain-text message with the headers mail servers expect; header values lose line breaks
    /// (no header injection), lines of the body end in CRLF.
    public static func compose(from: String, to: [String], subject: String, body: String, date: Date = Date(), messageID: String) -> [UInt8] {
        func clean(_ value: String) -> String { value.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ") }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss +0000"
        let headers = [
            "Date: \(formatter.string(from: date))",
            "From: \(clean(from))",
            "To: \(to.map(clean).joined(separator: ", "))",
            "Subject: \(clean(subject))",
            "Message-ID: <\(clean(messageID))>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
        ]
        let lines = body.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false)
        return Array((headers.joined(separator: "\r\n") + "\r\n\r\n" + lines.joined(separator: "\r\n") + "\r\n").utf8)
    }
}

/// Sends mail with libcurl's SMTP (MAIL FROM, RCPT TO, DATA from a read callback) on a thread of its
/// own, so the blocking transfer never runs on the cooperative pool.
public enum SMTPSender {
    public static func send(_ mail: SMTPMail) async throws {
        guard mail.url.hasPrefix("smtp://") || mail.url.hasPrefix("smtps://") else {
            throw HTTPClientError("smtp_url must start with smtp:// or smtps://, got '\(mail.url)'")
        }
        guard !mail.recipients.isEmpty else { throw HTTPClientError("an email needs at least one recipient") }
        let thread = DedicatedThread(name: "smtp")
        defer { thread.shutdown() }
        do {
            try await thread.run { try perform(mail) }
        } catch let error as DedicatedThreadError {
            throw HTTPClientError("SMTP \(mail.url): \(error)")
        }
    }

    static func perform(_ mail: SMTPMail) throws {
        if let error = cv_curl_load_error() { throw HTTPClientError("loading libcurl: \(String(cString: error))") }
        guard curlGlobalInit == CURLE_OK, let curl = cv_curl_easy_init() else { throw HTTPClientError("curl_easy_init failed") }
        defer { cv_curl_easy_cleanup(curl) }
        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        defer { errorBuffer.deallocate() }
        errorBuffer[0] = 0
        var recipients: UnsafeMutablePointer<curl_slist>?
        defer { cv_curl_slist_free_all(recipients) }
        for address in mail.recipients {
            guard let appended = cv_curl_slist_append(recipients, "<\(address)>") else { throw HTTPClientError("out of memory for recipients") }
            recipients = appended
        }
        let source = MessageSource(mail.message)
        func check(_ code: CURLcode, _ what: String) throws {
            guard code == CURLE_OK else { throw HTTPClientError("setting \(what): \(String(cString: cv_curl_easy_strerror(code)))") }
        }
        try check(cv_curl_set_ptr(curl, CURLOPT_ERRORBUFFER, errorBuffer), "CURLOPT_ERRORBUFFER")
        try check(cv_curl_set_ptr(curl, CURLOPT_URL, mail.url), "CURLOPT_URL")
        try check(cv_curl_set_long(curl, CURLOPT_NOSIGNAL, 1), "CURLOPT_NOSIGNAL")
        try check(cv_curl_set_long(curl, CURLOPT_TIMEOUT_MS, max(1, mail.timeout.wholeMilliseconds)), "CURLOPT_TIMEOUT_MS")
        try check(cv_curl_set_long(curl, CURLOPT_CONNECTTIMEOUT_MS, 10_000), "CURLOPT_CONNECTTIMEOUT_MS")
        try check(cv_curl_set_ptr(curl, CURLOPT_MAIL_FROM, "<\(mail.from)>"), "CURLOPT_MAIL_FROM")
        try check(cv_curl_set_ptr(curl, CURLOPT_MAIL_RCPT, recipients), "CURLOPT_MAIL_RCPT")
        try check(cv_curl_set_long(curl, CURLOPT_USE_SSL, mail.requireTLS ? Int(CURLUSESSL_ALL.rawValue) : Int(CURLUSESSL_TRY.rawValue)), "CURLOPT_USE_SSL")
        if let username = mail.username, !username.isEmpty {
            try check(cv_curl_set_ptr(curl, CURLOPT_USERNAME, username), "CURLOPT_USERNAME")
            try check(cv_curl_set_ptr(curl, CURLOPT_PASSWORD, mail.password ?? ""), "CURLOPT_PASSWORD")
        }
        try check(cv_curl_set_long(curl, CURLOPT_UPLOAD, 1), "CURLOPT_UPLOAD")
        try check(cv_curl_set_read_cb(curl, MessageSource.read), "CURLOPT_READFUNCTION")
        try check(cv_curl_set_ptr(curl, CURLOPT_READDATA, source.pointer), "CURLOPT_READDATA")
        let code = withExtendedLifetime(source) { cv_curl_easy_perform(curl) }
        guard code == CURLE_OK else {
            let detail = errorBuffer[0] != 0 ? String(cString: errorBuffer) : String(cString: cv_curl_easy_strerror(code))
            var reply = 0
            _ = cv_curl_get_long(curl, CURLINFO_RESPONSE_CODE, &reply)
            throw HTTPClientError("SMTP \(mail.url): \(detail)", status: reply == 0 ? nil : reply)
        }
    }
}

/// The message handed to libcurl's read callback piece by piece. Used only during
/// `curl_easy_perform` on the sending thread, while `perform` keeps it alive.
private final class MessageSource {
    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var pointer: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    static let read: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = { buffer, size, count, context in
        guard let buffer, let context else { return 0 }
        let source = Unmanaged<MessageSource>.fromOpaque(context).takeUnretainedValue()
        let length = min(size * count, source.bytes.count - source.offset)
        if length <= 0 { return 0 }
        source.bytes.withUnsafeBufferPointer { all in
            buffer.withMemoryRebound(to: UInt8.self, capacity: length) { $0.update(from: all.baseAddress! + source.offset, count: length) }
        }
        source.offset += length
        return length
    }
}
