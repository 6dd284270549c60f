/// AWS Signature Version 4 credentials for libcurl's `CURLOPT_AWS_SIGV4`.
public struct SigV4: Sendable {
    /// `provider1:provider2:region:service`, e.g. "aws:amz:us-east-1:s3".
    public var provider: String
    public var accessKey: String
    public var secretKey: String

    public init(provider: String, accessKey: String, secretKey: String) {
        self.provider = provider
        self.accessKey = accessKey
        self.secretKey = secretKey
    }
}

public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    /// Sent in order; a repeated name is sent repeatedly.
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// Bounds the whole transfer (connect included).
    public var timeout: Duration
    public var sigV4: SigV4?
    /// A response body larger than this ends the transfer with an error (memory stays bounded).
    public var maxResponseBytes: Int

    /// The largest response body accepted unless a request says otherwise.
    public static let defaultMaxResponseBytes = 64 * 1_048_576

    public init(
        method: String = "GET", url: String, headers: [(String, String)] = [], body: [UInt8] = [],
        timeout: Duration = .seconds(30), sigV4: SigV4? = nil, maxResponseBytes: Int = HTTPRequest.defaultMaxResponseBytes
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.sigV4 = sigV4
        self.maxResponseBytes = maxResponseBytes
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    /// Lower-cased names; repeated headers are joined with ", ".
    public var headers: [String: String]
    public var body: [UInt8]

    public init(status: Int, headers: [String: String], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// A transfer that failed (libcurl's message) or an unexpected answer from a server.
public struct HTTPClientError: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// The HTTP status when a server answered, nil when the transfer itself failed.
    public var status: Int?

    public init(_ message: String, status: Int? = nil) {
        self.message = message
        self.status = status
    }

    public var description: String { "http: \(message)" }
}
