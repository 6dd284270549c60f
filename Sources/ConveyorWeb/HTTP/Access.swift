import ConveyorCore
import HTTPTypes
import Hummingbird

/// Who is calling, and what they may do (docs/api.md#authentication):
/// - a write needs the token in the `Authorization` header (`Bearer …` or `token …`), so a
///   cross-site form post or a link can't act: 401 without it or with a wrong one, 403 when the
///   token only came in the query string;
/// - a read of a private repository's builds, jobs or logs needs the token, in the header or,
///   for `EventSource` and WebSocket clients that can't set headers, as `?access_token=`; without
///   it such a resource answers 404, as one that does not exist;
/// - a wrong token is 401 on every route.
/// With no token configured (only allowed with `insecure_no_auth`) every caller is trusted.
struct Access: Sendable {
    enum Caller: Sendable, Equatable {
        case anonymous
        case trusted

        var seesPrivate: Bool { self == .trusted }
    }

    let token: String?

    init(settings: Settings) {
        self.token = settings.apiToken
    }

    init(token: String?) {
        self.token = token
    }

    /// The web role refuses to start without a token unless told it runs insecurely.
    static func checkStartup(_ settings: Settings) throws {
        if settings.apiToken == nil && !settings.insecureNoAuth {
            throw SettingsError("""
                the web role needs api_token (CONVEYOR_API_TOKEN); to run without one for development, \
                set insecure_no_auth=true (CONVEYOR_INSECURE_NO_AUTH=true or `conveyor node --insecure-no-auth`)
                """)
        }
    }

    func caller(_ request: Request) throws -> Caller {
        guard let token else { return .trusted }
        let given = headerToken(request) ?? queryToken(request)
        guard let given else { return .anonymous }
        guard constantTimeEqual(Array(given.utf8), Array(token.utf8)) else { throw APIError(.unauthorized, "invalid token") }
        return .trusted
    }

    func requireWrite(_ request: Request) throws {
        guard let token else { return }
        guard let given = headerToken(request) else {
            if queryToken(request) != nil {
                throw APIError(.forbidden, "write calls take the token only in the Authorization header, not in the URL")
            }
            throw APIError(.unauthorized, "this call needs a token: Authorization: Bearer <CONVEYOR_API_TOKEN>",
                           headers: [.wwwAuthenticate: "Bearer realm=\"conveyor\""])
        }
        guard constantTimeEqual(Array(given.utf8), Array(token.utf8)) else { throw APIError(.unauthorized, "invalid token") }
    }

    /// Trusted callers only (reports that span repositories).
    func requireTrusted(_ request: Request) throws {
        if try caller(request) != .trusted {
            throw APIError(.unauthorized, "this call needs a token: Authorization: Bearer <CONVEYOR_API_TOKEN>",
                           headers: [.wwwAuthenticate: "Bearer realm=\"conveyor\""])
        }
    }

    func headerToken(_ request: Request) -> String? {
        guard let header = request.headers[.authorization], !header.isEmpty else { return nil }
        for scheme in ["Bearer ", "bearer ", "token "] where header.hasPrefix(scheme) { return String(header.dropFirst(scheme.count)) }
        return ""  // some other scheme: present but not ours, so it fails the comparison
    }

    func queryToken(_ request: Request) -> String? {
        request.uri.queryParameters.get("access_token")
    }
}

/// Equal-length comparison whose time does not depend on where the bytes differ.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    var diff = UInt8(a.count == b.count ? 0 : 1)
    let n = max(a.count, b.count)
    for i in 0..<n {
        let x = i < a.count ? a[i] : 0
        let y = i < b.count ? b[i] : 0
        diff |= x ^ y
    }
    return diff == 0
}
