import ConveyorHTTPClient
import Foundation
import Testing

@Suite("S3 against the moto server")
struct S3Tests {
    static func client(_ http: CurlHTTPClient, bucket: String = "conveyor-test-logs") throws -> S3Client {
        S3Client(config: S3Config(endpoint: try TestServers.require("CONVEYOR_TEST_S3_ENDPOINT"), bucket: bucket,
                                  region: "us-east-1", accessKey: "testing", secretKey: "testing"),
                 http: http)
    }

    @Test func putVerifiedHeadGetDelete() async throws {
        let http = CurlHTTPClient()
        let s3 = try Self.client(http)
        try await s3.createBucketIfMissing()
        try await s3.createBucketIfMissing()  // idempotent

        let key = "jobs/\(UUID().uuidString)/1/log.txt"
        let bytes = (0..<(256 * 1024 + 7)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        let info = try await s3.putVerified(key: key, bytes: bytes)
        #expect(info.size == bytes.count)

        let head = try #require(try await s3.head(key: key))
        #expect(head.size == bytes.count)
        #expect(head.etag == info.etag)
        #expect(try await s3.get(key: key) == bytes)

        try await s3.delete(key: key)
        #expect(try await s3.head(key: key) == nil)
        #expect(try await s3.get(key: key) == nil)
        await http.shutdown()
    }

    @Test func keysWithSpacesAndUnicode() async throws {
        let http = CurlHTTPClient(threads: 1)
        let s3 = try Self.client(http)
        try await s3.createBucketIfMissing()
        let key = "jobs/odd name ü+%/\(UUID().uuidString).txt"
        try await s3.putVerified(key: key, bytes: Array("ünïcode log\n".utf8))
        #expect(try await s3.get(key: key) == Array("ünïcode log\n".utf8))
        try await s3.delete(key: key)
        await http.shutdown()
    }

    @Test func missingObjectIsNil() async throws {
        let http = CurlHTTPClient(threads: 1)
        let s3 = try Self.client(http)
        try await s3.createBucketIfMissing()
        #expect(try await s3.head(key: "no/such/key") == nil)
        #expect(try await s3.get(key: "no/such/key") == nil)
        await http.shutdown()
    }

    @Test func missingBucketIsAnErrorWithS3sCode() async throws {
        let http = CurlHTTPClient(threads: 1)
        let s3 = try Self.client(http, bucket: "no-such-bucket-\(UUID().uuidString.lowercased().prefix(8))")
        do {
            try await s3.put(key: "x", bytes: [1])
            Issue.record("put into a missing bucket succeeded")
        } catch let error as HTTPClientError {
            #expect(error.status == 404)
            #expect(error.message.contains("NoSuchBucket"), "\(error)")
        }
        await http.shutdown()
    }
}
