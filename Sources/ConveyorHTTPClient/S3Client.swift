import Crypto

/// A minimal S3 client: path-style URLs, requests signed by libcurl (`CURLOPT_AWS_SIGV4`).
public struct S3Client: Sendable {
    public let config: S3Config
    private let http: CurlHTTPClient

    public init(config: S3Config, http: CurlHTTPClient) {
        self.config = config
        self.http = http
    }

    /// Creates the bucket; an existing bucket of ours is fine.
    public func createBucketIfMissing() async throws {
        var body: [UInt8] = []
        if config.region != "us-east-1" {
            body = Array(("<CreateBucketConfiguration><LocationConstraint>\(config.region)"
                + "</LocationConstraint></CreateBucketConfiguration>").utf8)
        }
        let response = try await send("PUT", key: nil, body: body)
        if response.status == 200 { return }
        if response.status == 409, response.bodyText.contains("BucketAlreadyOwnedByYou") { return }
        throw failure("creating bucket \(config.bucket)", response)
    }

    @discardableResult
    public func put(key: String, bytes: [UInt8], contentType: String = "text/plain; charset=utf-8") async throws
        -> S3ObjectInfo
    {
        let response = try await send("PUT", key: key, body: bytes, headers: [("Content-Type", contentType)])
        guard response.status == 200 else { throw failure("uploading \(key)", response) }
        return S3ObjectInfo(size: bytes.count, etag: Self.etag(response))
    }

    /// Size and ETag of an object, nil when it does not exist.
    public func head(key: String) async throws -> S3ObjectInfo? {
        let response = try await send("HEAD", key: key)
        if response.status == 404 { return nil }
        guard response.status == 200 else { throw failure("reading metadata of \(key)", response) }
        guard let size = response.headers["content-length"].flatMap({ Int($0) }) else {
            throw HTTPClientError("reading metadata of \(key): no Content-Length", status: response.status)
        }
        return S3ObjectInfo(size: size, etag: Self.etag(response))
    }

    /// The object's bytes, nil when it does not exist.
    public func get(key: String) async throws -> [UInt8]? {
        let response = try await send("GET", key: key)
        if response.status == 404 { return nil }
        guard response.status == 200 else { throw failure("downloading \(key)", response) }
        return response.body
    }

    /// Deletes the object; deleting a missing object is not an error.
    public func delete(key: String) async throws {
        let response = try await send("DELETE", key: key)
        guard [200, 204, 404].contains(response.status) else { throw failure("deleting \(key)", response) }
    }

    /// Uploads, then reads back size and MD5 (the ETag of a single-part PUT) and compares them with
    /// the bytes sent; throws on any mismatch.
    @discardableResult
    public func putVerified(key: String, bytes: [UInt8], contentType: String = "text/plain; charset=utf-8")
        async throws -> S3ObjectInfo
    {
        try await put(key: key, bytes: bytes, contentType: contentType)
        guard let stored = try await head(key: key) else {
            throw HTTPClientError("verifying \(key): the object is missing after upload")
        }
        let md5 = Insecure.MD5.hash(data: bytes).hex
        guard stored.size == bytes.count else {
            throw HTTPClientError("verifying \(key): stored size \(stored.size), sent \(bytes.count)")
        }
        guard stored.etag?.lowercased() == md5 else {
            throw HTTPClientError("verifying \(key): stored ETag \(stored.etag ?? "none"), MD5 of the bytes \(md5)")
        }
        return stored
    }

    func url(for key: String?) -> String {
        var base = config.endpoint
        while base.hasSuffix("/") { base.removeLast() }
        guard let key else { return "\(base)/\(S3Path.encode(config.bucket))" }
        return "\(base)/\(S3Path.encode(config.bucket))/\(S3Path.encode(key))"
    }

    private func send(
        _ method: String, key: String?, body: [UInt8] = [], headers: [(String, String)] = []
    ) async throws -> HTTPResponse {
        let request = HTTPRequest(
            method: method, url: url(for: key),
            headers: headers + [("x-amz-content-sha256", SHA256.hash(data: body).hex)],
            body: body, timeout: config.timeout,
            sigV4: SigV4(provider: "aws:amz:\(config.region):s3", accessKey: config.accessKey,
                         secretKey: config.secretKey))
        return try await http.send(request)
    }

    private static func etag(_ response: HTTPResponse) -> String? {
        response.headers["etag"].map { $0.trimmingCharacters(in: "\"") }
    }

    /// An error naming the S3 error code from the XML body, never the credentials.
    private func failure(_ what: String, _ response: HTTPResponse) -> HTTPClientError {
        let text = response.bodyText
        var code = ""
        if let start = text.range(of: "<Code>"), let end = text.range(of: "</Code>", range: start.upperBound..<text.endIndex) {
            code = ": " + text[start.upperBound..<end.lowerBound]
        }
        return HTTPClientError("\(what) in bucket \(config.bucket): HTTP \(response.status)\(code)",
                               status: response.status)
    }
}
