import Foundation
import Hummingbird
import HummingbirdWebSocket

/// The web role's request context: typed bodies go through `APIRequestDecoder` (bounded, checked,
/// errors naming the field), responses through `APIJSON`'s encoder. Routes decode with
/// `request.decode(as:context:)` and return `ResponseEncodable` values (docs/api.md#conventions).
struct WebContext: RequestContext, WebSocketRequestContext {
    /// Largest JSON body an API route accepts (webhooks read their own, larger, limit).
    static let maxBodyBytes = 1 << 20

    var coreContext: CoreRequestContextStorage
    let webSocket: WebSocketHandlerReference<Self>

    init(source: Source) {
        self.coreContext = .init(source: source)
        self.webSocket = .init()
    }

    var maxUploadSize: Int { Self.maxBodyBytes }
    var requestDecoder: APIRequestDecoder { APIRequestDecoder() }
    var responseEncoder: JSONEncoder { APIJSON.encoder() }
}

struct APIRequestDecoder: RequestDecoder {
    func decode<T: Decodable>(_ type: T.Type, from request: Request, context: some RequestContext) async throws -> T {
        try JSONBody.decode(type, from: try await request.bodyBytes(limit: context.maxUploadSize))
    }
}

extension Parameters {
    /// A numeric id from the path, or 400 naming the parameter.
    func id(_ name: String) throws -> Int64 {
        let text = get(name) ?? ""
        guard let value = Int64(text), value > 0 else { throw APIError(.badRequest, "path parameter `\(name)` must be a positive integer, got '\(text.prefix(64))'") }
        return value
    }
}

extension Request {
    /// An optional integer query parameter within `range`, or 400 naming it.
    func queryInt(_ name: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let text = uri.queryParameters.get(name) else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw APIError(.badRequest, "query parameter `\(name)` must be an integer in \(range.lowerBound)...\(range.upperBound), got '\(text.prefix(64))'")
        }
        return value
    }
}
