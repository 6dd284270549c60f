import ConveyorHTTPClient
import ConveyorTesting
import Foundation
import Testing

@Suite("libcurl HTTP client")
struct HTTPClientTests {
    @Test func postsBodyAndHeadersToALocalReceiver() async throws {
        let receiver = try LocalHTTPReceiver.start()
        defer { receiver.stop() }
        let body = Array(#"{"state":"passed","id":42}"#.utf8)
        let signature = WebhookSignature.hmacSHA256Hex(secret: "s3cret", body: body)
        let response = try await withHTTP(threads: 2) { http in
            try await http.send(HTTPRequest(
                method: "POST", url: receiver.url + "/hooks/build?x=1",
                headers: [("Content-Type", "application/json"), ("X-Hub-Signature-256", signature)],
                body: body, timeout: .seconds(5)))
        }

        #expect(response.status == 200)
        #expect(response.headers["x-echo"] == "yes")
        #expect(response.bodyText == "ok")
        let request = try #require(receiver.requests.first)
        #expect(request.method == "POST")
        #expect(request.path == "/hooks/build?x=1")
        #expect(request.headers["content-type"] == "application/json")
        #expect(request.headers["x-hub-signature-256"] == signature)
        #expect(request.headers["expect"] == nil)
        #expect(request.body == body)
    }

    @Test func webhookSignatureMatchesGitHubsExample() {
        let signature = WebhookSignature.hmacSHA256Hex(secret: "It's a Secret to Everybody",
                                                       body: Array("Hello, World!".utf8))
        #expect(signature == "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
    }

    @Test func s3RequestsCarryASigV4Signature() async throws {
        let receiver = try LocalHTTPReceiver.start()
        defer { receiver.stop() }
        try await withHTTP { http in
            let s3 = S3Client(config: S3Config(endpoint: receiver.url, bucket: "logs", region: "eu-west-1",
                                               accessKey: "AKIDEXAMPLE", secretKey: "secret"), http: http)
            try await s3.put(key: "jobs/1/0/log.txt", bytes: Array("hello".utf8))
        }

        let request = try #require(receiver.requests.first)
        #expect(request.method == "PUT")
        #expect(request.path == "/logs/jobs/1/0/log.txt")
        let authorization = request.headers["authorization"] ?? ""
        #expect(authorization.hasPrefix("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"), "\(authorization)")
        #expect(authorization.contains("/eu-west-1/s3/aws4_request"), "\(authorization)")
        #expect(authorization.contains("x-amz-content-sha256"), "\(authorization)")
        #expect(request.headers["x-amz-date"] != nil)
        // SHA-256 of "hello".
        #expect(request.headers["x-amz-content-sha256"]
            == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
        #expect(!authorization.contains("secret"))
    }

    @Test func aServerThatNeverAnswersTimesOut() async throws {
        let silent = try LocalHTTPReceiver.start(silent: true)
        defer { silent.stop() }
        let begin = ContinuousClock.now
        try await withHTTP { http in
            do {
                _ = try await http.send(HTTPRequest(url: silent.url + "/", timeout: .milliseconds(300)))
                Issue.record("no timeout")
            } catch let error as HTTPClientError {
                #expect(error.message.lowercased().contains("timed out"), "\(error)")
            }
        }
        #expect(ContinuousClock.now - begin < .seconds(15))
    }

    @Test func refusedConnectionIsAnError() async throws {
        let receiver = try LocalHTTPReceiver.start(silent: true)
        let url = receiver.url
        receiver.stop()
        try await withHTTP { http in
            await #expect(throws: HTTPClientError.self) { _ = try await http.send(HTTPRequest(url: url)) }
        }
    }
}
