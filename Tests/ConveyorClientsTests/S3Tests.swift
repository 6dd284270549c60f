import ConveyorHTTPClient
import Foundation
import Testing

@Suite("S3 against the moto server")
struct S3Tests {
    /// Runs `body` with an S3 client on the moto server (and a client shut down afterwards).
    static func withS3(
        bucket: String = "conveyor-test-logs", _ body: (S3Client) async throws -> Void
    ) async throws {
        let endpoint = try TestServers.require("CONVEYOR_TEST_S3_ENDPOINT")
        try await withHTTP(threads: 2) { http in
            let s3 = S3Client(config: S3Config(endpoint: endpoint, bucket: bucket, region: "us-east-1",
                                               accessKey: "testing", secretKey: "testing"), http: http)
            try await TestServers.reaching("moto S3") { try await body(s3) }
        }
    }

    @Test func putVerifiedHeadGetDelete() async throws {
        try await Self.withS3 { s3 async throws in
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
        }
    }

    @Test func keysWithSpacesAndUnicode() async throws {
        try await Self.withS3 { s3 async throws in
            try await s3.createBucketIfMissing()
            let key = "jobs/odd name ü+%/\(UUID().uuidString).txt"
            try await s3.putVerified(key: key, bytes: Array("ünïcode log\n".utf8))
            #expect(try await s3.get(key: key) == Array("ünïcode log\n".utf8))
            try await s3.delete(key: key)
        }
    }

    @Test func missingObjectIsNil() async throws {
        try await Self.withS3 { s3 async throws in
            try await s3.createBucketIfMissing()
            #expect(try await s3.head(key: "no/such/key") == nil)
            #expect(try await s3.get(key: "no/such/key") == nil)
        }
    }

    @Test func missingBucketIsAnErrorWithS3sCode() async throws {
        try await Self.withS3(bucket: "no-such-bucket-\(UUID().uuidString.lowercased().prefix(8))") { s3 async throws in
            do {
                try await s3.put(key: "x", bytes: [1])
                Issue.record("put into a missing bucket succeeded")
            } catch let error as HTTPClientError {
                #expect(error.status == 404)
                #expect(error.message.contains("NoSuchBucket"), "\(error)")
        }
        }
    }
}
