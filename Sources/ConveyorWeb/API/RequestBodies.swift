import ConveyorModel
import Foundation

// Typed request bodies (docs/api.md). Each is decoded by `request.decode(as:context:)` through
// `APIRequestDecoder`; `validate()` checks what a type can't say, naming the field.

/// `POST /api/v1/repos/{owner}/{repo}/requests`
struct TriggerBody: Codable, Sendable {
    var branch: String?
    var sha: String?
    var url: String?
    var message: String?
    var sender: String?
    var config: ConfigOverride?
    /// Only used when the request registers the repository.
    var `private`: Bool?

    static let maxMessageBytes = 64 << 10

    func validate() throws {
        if let branch, let problem = RefName.branchProblem(branch) { throw APIError(.badRequest, "field `branch`: \(problem)") }
        if let sha, !sha.isEmpty, !RefName.isCommitID(sha) { throw APIError(.badRequest, "field `sha`: must be a commit id (7 to 64 hex digits), got '\(sha.prefix(80))'") }
        if let url { try GitRemote.validate(url, field: "url") }
        if let message, message.utf8.count > Self.maxMessageBytes { throw APIError(.badRequest, "field `message`: longer than \(Self.maxMessageBytes) bytes") }
        if let sender, sender.utf8.count > 255 { throw APIError(.badRequest, "field `sender`: longer than 255 bytes") }
    }
}

/// A config merged over the repository's: YAML text, or a JSON object (which is valid YAML).
enum ConfigOverride: Codable, Sendable {
    case yaml(String)
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self = .yaml(text)
        } else if let object = try? container.decode([String: JSONValue].self) {
            self = .object(object)
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected YAML text or a JSON object")
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .yaml(let text): try container.encode(text)
        case .object(let object): try container.encode(object)
        }
    }

    var text: String {
        switch self {
        case .yaml(let text): return text
        case .object(let object): return JSONValue.object(object).jsonText()
        }
    }
}

/// `PUT /api/v1/owners/{login}`
struct OwnerLimitBody: Codable, Sendable {
    var limit: Int

    func validate() throws {
        guard (0...100_000).contains(limit) else { throw APIError(.badRequest, "field `limit`: must be in 0...100000, got \(limit)") }
    }
}

/// `PATCH /api/v1/repos/{owner}/{repo}`
struct RepoPatchBody: Codable, Sendable {
    var `private`: Bool?
}

/// The first message on `/ws`.
struct WebSocketSubscribe: Codable, Sendable {
    enum Stream: String, Codable, Sendable { case events, log }
    var subscribe: Stream
    var job: Int64?
    var after: Int?
}

/// A git remote given through the API: no option injection, no control characters, a transport
/// git fetches over (not `ext::`), bounded length.
enum GitRemote {
    static let schemes = ["https://", "http://", "ssh://", "git://", "file://"]

    static func validate(_ url: String, field: String) throws {
        if url.isEmpty { throw APIError(.badRequest, "field `\(field)`: must not be empty") }
        if url.utf8.count > 2048 { throw APIError(.badRequest, "field `\(field)`: longer than 2048 bytes") }
        if url.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) { throw APIError(.badRequest, "field `\(field)`: must not contain control characters") }
        if url.hasPrefix("-") { throw APIError(.badRequest, "field `\(field)`: must not start with '-'") }
        let scpLike = url.range(of: #"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^:]"#, options: .regularExpression) != nil
        guard schemes.contains(where: { url.hasPrefix($0) }) || url.hasPrefix("/") || scpLike else {
            throw APIError(.badRequest, "field `\(field)`: must be an https://, http://, ssh://, git:// or file:// URL, user@host:path, or an absolute path")
        }
    }
}

/// `owner`, `repo` and `login` path parameters: GitHub's characters, bounded.
enum Slug {
    static func make(owner: String?, repo: String?) throws -> String {
        "\(try name("owner", owner))/\(try name("repo", repo))"
    }

    static func name(_ parameter: String, _ value: String?) throws -> String {
        let value = value ?? ""
        let ok = !value.isEmpty && value.utf8.count <= 100 && value != "." && value != ".."
            && value.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || $0 == 0x2D || $0 == 0x2E || $0 == 0x5F }
        guard ok else { throw APIError(.badRequest, "path parameter `\(parameter)` must be 1 to 100 of A-Z a-z 0-9 . - _, got '\(value.prefix(100))'") }
        return value
    }
}
