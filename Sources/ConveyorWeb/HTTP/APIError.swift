import Foundation
import HTTPTypes
import Hummingbird

/// An error a handler throws to answer with a status and `{"error": "…"}`, the shape every failure uses.
struct APIError: Error, HTTPResponseError {
    var status: HTTPResponse.Status
    var message: String
    var extraHeaders: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.extraHeaders = headers
    }

    var headers: HTTPFields {
        var fields: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        fields.append(contentsOf: extraHeaders)
        return fields
    }

    func body(allocator: ByteBufferAllocator) -> ByteBuffer? {
        ByteBuffer(bytes: APIJSON.encode(ErrorBody(error: message)))
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: status, headers: headers, body: ResponseBody(byteBuffer: body(allocator: ByteBufferAllocator()) ?? ByteBuffer()))
    }
}

struct ErrorBody: Codable, Sendable {
    var error: String
}

/// The one JSON encoding of the web role's responses: sorted keys, `/` unescaped, field names as
/// the types' `CodingKeys` spell them (snake_case on the wire).
enum APIJSON {
    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// Encoding our response types cannot fail (no non-finite doubles); a failure would be a bug,
    /// answered as an error body rather than a crash.
    static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        (try? Array(encoder().encode(value))) ?? Array(#"{"error":"response could not be encoded"}"#.utf8)
    }
}

/// SQL that renders a timestamptz as ISO 8601 UTC text.
func iso(_ column: String, as alias: String? = nil) -> String {
    "to_char(\(column) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS \(alias ?? column.split(separator: ".").last.map(String.init) ?? column)"
}
