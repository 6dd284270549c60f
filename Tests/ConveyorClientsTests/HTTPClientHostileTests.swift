import ConveyorHTTPClient
import ConveyorTesting
import Foundation
import Testing

/// Outgoing HTTP is only http/https, never follows redirects, and bounds what it reads.
@Suite struct HTTPClientHostileTests {
    @Test func otherProtocolsAreRefused() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("conveyor-curl-\(UUID().uuidString)")
        try Data("secret file".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        try await withHTTPClient { http in
            for url in ["file://\(file.path)", "gopher://127.0.0.1:1/x", "dict://127.0.0.1:1/d:x", "ftp://127.0.0.1:1/x"] {
                do {
                    let response = try await http.send(HTTPRequest(url: url, timeout: .seconds(5)))
                    Issue.record("\(url) was fetched: \(response.bodyText)")
                } catch let error as HTTPClientError {
                    #expect(error.message.lowercased().contains("protocol"), "\(url): \(error)")
                }
            }
        }
    }

    @Test func redirectsAreNotFollowed() async throws {
        let receiver = try LocalHTTPReceiver.start()
        defer { receiver.stop() }
        try await withHTTPClient { http in
            let response = try await http.send(HTTPRequest(url: receiver.url + "/redirect"))
            #expect(response.status == 302)
            #expect(response.headers["location"] == "/elsewhere")
        }
        #expect(receiver.requests.map(\.path) == ["/redirect"])
    }

    @Test func responseBodiesAreCapped() async throws {
        let receiver = try LocalHTTPReceiver.start()
        defer { receiver.stop() }
        try await withHTTPClient { http in
            // Without a Content-Length (read until close) and with one: both stop at the cap.
            for path in ["/big/300000", "/sized/300000"] {
                do {
                    _ = try await http.send(HTTPRequest(url: receiver.url + path, maxResponseBytes: 100_000))
                    Issue.record("\(path): a body past the cap was accepted")
                } catch let error as HTTPClientError {
                    #expect(error.message.contains("larger than 100000 bytes"), "\(path): \(error)")
                }
            }
            let small = try await http.send(HTTPRequest(url: receiver.url + "/big/1000", maxResponseBytes: 100_000))
            #expect(small.body.count == 1000)
            // The handle is reused after an aborted transfer.
            let after = try await http.send(HTTPRequest(url: receiver.url + "/"))
            #expect(after.bodyText == "ok")
        }
    }

    private func withHTTPClient(_ body: (CurlHTTPClient) async throws -> Void) async throws {
        let http = CurlHTTPClient(threads: 1)
        do {
            try await body(http)
        } catch {
            await http.shutdown()
            throw error
        }
        await http.shutdown()
    }
}
