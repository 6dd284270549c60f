/// Where archived objects go: any S3-compatible endpoint, addressed path-style.
public struct S3Config: Sendable {
    /// Scheme, host and port, e.g. "http://127.0.0.1:9000".
    public var endpoint: String
    public var bucket: String
    public var region: String
    public var accessKey: String
    public var secretKey: String
    /// Bounds each request.
    public var timeout: Duration

    public init(
        endpoint: String, bucket: String, region: String = "us-east-1", accessKey: String, secretKey: String,
        timeout: Duration = .seconds(60)
    ) {
        self.endpoint = endpoint
        self.bucket = bucket
        self.region = region
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.timeout = timeout
    }
}

public struct S3ObjectInfo: Sendable, Equatable {
    public var size: Int
    /// Without quotes; for a single-part PUT, the hex MD5 of the bytes.
    public var etag: String?

    public init(size: Int, etag: String?) {
        self.size = size
        self.etag = etag
    }
}
