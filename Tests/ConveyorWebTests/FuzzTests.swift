import ConveyorCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
@testable import ConveyorWeb

/// A bounded fuzz run over a real socket (`.live`: the web role's server on a loopback port,
/// real PostgreSQL and Redis): random and mutated bodies, headers and ids on every route. No
/// answer may be a 5xx, and the node must still answer `/healthz` and `/readyz` at the end.
/// The seed is printed; `CONVEYOR_FUZZ_SEED` and `CONVEYOR_FUZZ_ROUNDS` replay or extend a run.
@Suite struct FuzzTests {
    static let rounds = ProcessInfo.processInfo.environment["CONVEYOR_FUZZ_ROUNDS"].flatMap { Int($0) } ?? 600

    @Test func noBodyCrashesOrFailsTheNode() async throws {
        let web = try await WebFixture.make()
        let seeded = try await web.seed(slug: "fuzz/seeded", isPrivate: true)
        let seed = ProcessInfo.processInfo.environment["CONVEYOR_FUZZ_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64.max)
        print("fuzz seed \(seed), \(Self.rounds) rounds")
        try await web.test(.live) { client in
            var fuzz = Fuzzer(seed: seed, ids: [seeded.build, seeded.job, seeded.request])
            var statuses: [Int: Int] = [:]
            for round in 0..<Self.rounds {
                let call = fuzz.nextCall()
                let response = try await client.execute(uri: call.uri, method: call.method, headers: call.headers, body: ByteBuffer(bytes: call.body))
                statuses[response.status.code, default: 0] += 1
                #expect(response.status.code < 500, "round \(round) (seed \(seed)): \(call.method) \(call.uri) → \(response.status) \(String(buffer: response.body).prefix(300)); body \(String(decoding: call.body.prefix(300), as: UTF8.self))")
            }
            print("fuzz statuses: \(statuses.sorted { $0.key < $1.key })")
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .ok) }
        }
    }
}

/// Makes the calls: each picks a route, then a body that is random bytes, a valid body
/// mutated (values swapped for other types, truncated, bytes flipped, nested deep, odd escapes),
/// or a valid one; webhooks are signed, so mutated payloads get past the signature to the parser.
struct Fuzzer {
    struct Call {
        var method: HTTPRequest.Method
        var uri: String
        var headers: HTTPFields
        var body: [UInt8]
    }

    var rng: SplitMix64
    let ids: [Int64]

    init(seed: UInt64, ids: [Int64]) {
        rng = SplitMix64(seed: seed)
        self.ids = ids
    }

    static let triggerBodies = [
        #"{"branch": "main", "sha": "0123456789abcdef0123456789abcdef01234567", "url": "file:///srv/fuzz.git", "message": "m", "config": {"script": "true"}}"#,
        #"{"sha": "0123456789abcdef0123456789abcdef01234567", "config": "language: ruby\nscript: rake"}"#,
    ]
    static let webhookBodies: [(String, String)] = [
        ("push", #"{"ref": "refs/heads/main", "after": "0123456789abcdef0123456789abcdef01234567", "deleted": false, "head_commit": {"message": "x"}, "repository": {"full_name": "fuzz/hook", "private": false, "clone_url": "https://github.com/fuzz/hook.git"}, "sender": {"login": "o"}}"#),
        ("pull_request", #"{"action": "opened", "number": 3, "pull_request": {"title": "t", "head": {"ref": "t", "sha": "0123456789abcdef0123456789abcdef01234567"}, "base": {"ref": "main"}}, "repository": {"full_name": "fuzz/hook", "clone_url": "https://github.com/fuzz/hook.git"}}"#),
        ("ping", #"{"zen": "z", "hook_id": 1}"#),
        ("organization", #"{"action": "renamed", "organization": {"login": "o"}}"#),
    ]
    static let replacements = ["null", "5", "-1", "1e400", "99999999999999999999999", "true", "[]", "{}", "\"\"", "\"\\u0000\"", "\"\\ud800\"",
                               "\"refs/heads/../x\"", "\"a:b*\"", "\"--upload-pack=x\"", "[[[[[[[[[[]]]]]]]]]]", "\"\(String(repeating: "é", count: 300))\""]

    mutating func nextCall() -> Call {
        let id = pick(ids.map(String.init) + ["0", "-5", "abc", "999999999", "1e3", "%00", "9223372036854775808"])
        let writes: [(HTTPRequest.Method, String)] = [
            (.post, "/api/v1/repos/fuzz/\(pick(["r", "seeded", "x.y", "a$b", "..", "%2e%2e"]))/requests"),
            (.patch, "/api/v1/repos/fuzz/\(pick(["seeded", "r"]))"),
            (.put, "/api/v1/owners/\(pick(["fuzz", "nobody", "a%20b"]))"),
            (.post, "/api/v1/jobs/\(id)/\(pick(["cancel", "restart"]))"),
            (.post, "/api/v1/builds/\(id)/\(pick(["cancel", "restart"]))"),
        ]
        let reads = [
            "/api/v1/repos", "/api/v1/builds?limit=\(pick(["0", "5", "x", "-1", "501"]))&repo=\(pick(["fuzz/seeded", "%00", "x"]))",
            "/api/v1/builds/\(id)", "/api/v1/jobs/\(id)", "/api/v1/requests/\(id)", "/api/v1/jobs/\(id)/log?offset=\(pick(["0", "-1", "x", "99999999999"]))&attempt=\(pick(["1", "0", "x"]))",
            "/api/v1/owners/\(pick(["fuzz", "x"]))/queue", "/api/v1/queues", "/api/v1/nodes", "/api/v1/owners",
        ]
        var headers: HTTPFields = [.contentType: "application/json"]
        switch rng.next() % 10 {
        case 0: break
        case 1: headers[.authorization] = pick(["Bearer wrong", "Basic x", "Bearer ", "token \(WebFixture.token)"])
        default: headers[.authorization] = "Bearer \(WebFixture.token)"
        }
        switch rng.next() % 4 {
        case 0:
            let (event, template) = pick(Self.webhookBodies)
            let body = mutate(Array(template.utf8))
            var hooked = HTTPFields.webhook(rng.next() % 8 == 0 ? pick(["push", "x-y", "", "PUSH"]) : event, body, delivery: "fuzz-\(rng.next() % 50)")
            if rng.next() % 10 == 0 { hooked[HTTPField.Name("X-Hub-Signature-256")!] = pick(["sha256=00", "", "sha256=" + String(repeating: "g", count: 64)]) }
            return Call(method: .post, uri: "/webhooks/github", headers: hooked, body: body)
        case 1:
            return Call(method: .get, uri: pick(reads), headers: headers, body: [])
        default:
            let (method, uri) = pick(writes)
            let template = uri.hasSuffix("/requests") ? pick(Self.triggerBodies) : uri.contains("/owners/") ? #"{"limit": 2}"# : #"{"private": true}"#
            return Call(method: method, uri: uri, headers: headers, body: mutate(Array(template.utf8)))
        }
    }

    mutating func mutate(_ valid: [UInt8]) -> [UInt8] {
        switch rng.next() % 9 {
        case 0: return valid
        case 1: return (0..<Int(rng.next() % 200)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        case 2: return Array(valid.prefix(Int(rng.next() % UInt64(valid.count))))
        case 3:
            var bytes = valid
            for _ in 0..<(1 + rng.next() % 4) { bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            return bytes
        case 4:
            let depth = Int(rng.next() % 3000)
            return Array((#"{"config": "# + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}").utf8)
        default:
            // Swap one value for a value of another type.
            let text = String(decoding: valid, as: UTF8.self)
            let pattern = try! NSRegularExpression(pattern: #"(?<=: )("[^"]*"|[0-9a-z]+|\{[^{}]*\})"#)
            let matches = pattern.matches(in: text, range: NSRange(text.startIndex..., in: text))
            guard !matches.isEmpty, let range = Range(matches[Int(rng.next() % UInt64(matches.count))].range, in: text) else { return valid }
            return Array(text.replacingCharacters(in: range, with: pick(Self.replacements)).utf8)
        }
    }

    mutating func pick<T>(_ items: [T]) -> T { items[Int(rng.next() % UInt64(items.count))] }
}

/// A small seeded generator, so a failing run can be replayed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
