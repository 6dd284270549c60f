import Hummingbird

/// Bearer-token check for write calls. Compared in constant time.
struct TokenCheck: Sendable {
    let token: String?

    func require(_ request: Request) throws {
        guard let token else { return }
        let header = request.headers[.authorization] ?? ""
        let given = header.hasPrefix("Bearer ") ? String(header.dropFirst(7)) : header.hasPrefix("token ") ? String(header.dropFirst(6)) : ""
        if given.isEmpty { throw APIError(.unauthorized, "this call needs a token: Authorization: Bearer <CONVEYOR_API_TOKEN>") }
        if !constantTimeEqual(Array(given.utf8), Array(token.utf8)) { throw APIError(.unauthorized, "invalid token") }
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
