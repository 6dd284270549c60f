import ConveyorModel
import Foundation
import HTTPTypes
import Hummingbird

/// JSON bodies and the `{"error": "…"}` shape every failure uses.
enum JSONResponse {
    static func ok(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json; charset=utf-8"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: value.jsonText())))
    }

    static func encodable<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        ok(.object(["error": .string(message)]), status: status)
    }
}

/// An error a handler throws to answer with a status and a message.
struct APIError: Error, HTTPResponseError {
    var status: HTTPResponse.Status
    var message: String
    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }
    var headers: HTTPFields { [.contentType: "application/json; charset=utf-8"] }
    func body(allocator: ByteBufferAllocator) -> ByteBuffer? {
        ByteBuffer(string: JSONValue.object(["error": .string(message)]).jsonText())
    }
    func response(from request: Request, context: some RequestContext) throws -> Response {
        JSONResponse.error(status, message)
    }
}

extension Request {
    /// The body, bounded so a huge upload cannot exhaust memory.
    func bodyBytes(limit: Int = 5 << 20) async throws -> [UInt8] {
        do {
            let buffer = try await body.collect(upTo: limit)
            return Array(buffer.readableBytesView)
        } catch {
            throw APIError(.contentTooLarge, "request body larger than \(limit) bytes")
        }
    }

    func jsonBody(limit: Int = 5 << 20) async throws -> [String: Any] {
        let bytes = try await bodyBytes(limit: limit)
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) else {
            throw APIError(.badRequest, "body is not valid JSON")
        }
        guard let map = object as? [String: Any] else { throw APIError(.badRequest, "body must be a JSON object") }
        return map
    }
}

/// SQL that renders a timestamptz as ISO 8601 UTC text.
func iso(_ column: String, as alias: String? = nil) -> String {
    "to_char(\(column) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS \(alias ?? column.split(separator: ".").last.map(String.init) ?? column)"
}
