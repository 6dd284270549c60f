import Foundation
import Hummingbird

/// A repository's settings as `GET/PATCH /api/v1/repos/{owner}/{name}/settings` show them. Secrets
/// (the GitHub webhook secret, the notification webhooks' signing secret) are write-only: only
/// whether one is set is shown. See docs/security.md.
struct RepositorySettings: ResponseEncodable, Equatable {
    var repo: String
    var buildPushes: Bool
    var buildPullRequests: Bool
    var maxConcurrentJobs: Int?
    var hardTimeoutSeconds: Int?
    var noOutputTimeoutSeconds: Int?
    var maxLogBytes: Int?
    var autoCancelPushes: Bool
    var autoCancelPullRequests: Bool
    var autoCancelRunningJobs: Bool
    var `private`: Bool
    var webhooks: [String]
    var webhooksOnStart: Bool
    var webhookSecretSet: Bool
    var notificationSecretSet: Bool

    enum CodingKeys: String, CodingKey {
        case repo, webhooks, `private`
        case buildPushes = "build_pushes", buildPullRequests = "build_pull_requests", maxConcurrentJobs = "max_concurrent_jobs"
        case hardTimeoutSeconds = "hard_timeout_seconds", noOutputTimeoutSeconds = "no_output_timeout_seconds", maxLogBytes = "max_log_bytes"
        case autoCancelPushes = "auto_cancel_pushes", autoCancelPullRequests = "auto_cancel_pull_requests"
        case autoCancelRunningJobs = "auto_cancel_running_jobs"
        case webhooksOnStart = "webhooks_on_start", webhookSecretSet = "webhook_secret_set", notificationSecretSet = "notification_secret_set"
    }

    /// Every key is shown, `null` included (a limit that is not set).
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(repo, forKey: .repo)
        try c.encode(buildPushes, forKey: .buildPushes)
        try c.encode(buildPullRequests, forKey: .buildPullRequests)
        try c.encode(maxConcurrentJobs, forKey: .maxConcurrentJobs)
        try c.encode(hardTimeoutSeconds, forKey: .hardTimeoutSeconds)
        try c.encode(noOutputTimeoutSeconds, forKey: .noOutputTimeoutSeconds)
        try c.encode(maxLogBytes, forKey: .maxLogBytes)
        try c.encode(autoCancelPushes, forKey: .autoCancelPushes)
        try c.encode(autoCancelPullRequests, forKey: .autoCancelPullRequests)
        try c.encode(autoCancelRunningJobs, forKey: .autoCancelRunningJobs)
        try c.encode(`private`, forKey: .private)
        try c.encode(webhooks, forKey: .webhooks)
        try c.encode(webhooksOnStart, forKey: .webhooksOnStart)
        try c.encode(webhookSecretSet, forKey: .webhookSecretSet)
        try c.encode(notificationSecretSet, forKey: .notificationSecretSet)
    }
}

/// A field of a PATCH body: absent (left as it is), `null` (cleared), or a value.
enum PatchField<Value: Decodable & Sendable>: Sendable {
    case unchanged
    case set(Value?)
}

extension KeyedDecodingContainer {
    func patch<V: Decodable & Sendable>(_ key: Key) throws -> PatchField<V> {
        guard contains(key) else { return .unchanged }
        if try decodeNil(forKey: key) { return .set(nil) }
        return .set(try decode(V.self, forKey: key))
    }
}

/// The body of `PATCH …/settings`: any subset of the settings' keys. Limits and timeouts take `null`
/// (back to the cluster's default); the secrets take a string (or `null` / "" to remove).
struct RepositorySettingsPatch: Decodable, Sendable {
    var buildPushes: PatchField<Bool> = .unchanged
    var buildPullRequests: PatchField<Bool> = .unchanged
    var maxConcurrentJobs: PatchField<Int> = .unchanged
    var hardTimeoutSeconds: PatchField<Int> = .unchanged
    var noOutputTimeoutSeconds: PatchField<Int> = .unchanged
    var maxLogBytes: PatchField<Int> = .unchanged
    var autoCancelPushes: PatchField<Bool> = .unchanged
    var autoCancelPullRequests: PatchField<Bool> = .unchanged
    var autoCancelRunningJobs: PatchField<Bool> = .unchanged
    var `private`: PatchField<Bool> = .unchanged
    var webhooks: PatchField<[String]> = .unchanged
    var webhooksOnStart: PatchField<Bool> = .unchanged
    var webhookSecret: PatchField<String> = .unchanged
    var notificationSecret: PatchField<String> = .unchanged

    enum CodingKeys: String, CodingKey, CaseIterable {
        case webhooks, `private`
        case buildPushes = "build_pushes", buildPullRequests = "build_pull_requests", maxConcurrentJobs = "max_concurrent_jobs"
        case hardTimeoutSeconds = "hard_timeout_seconds", noOutputTimeoutSeconds = "no_output_timeout_seconds", maxLogBytes = "max_log_bytes"
        case autoCancelPushes = "auto_cancel_pushes", autoCancelPullRequests = "auto_cancel_pull_requests"
        case autoCancelRunningJobs = "auto_cancel_running_jobs"
        case webhooksOnStart = "webhooks_on_start", webhookSecret = "webhook_secret", notificationSecret = "notification_secret"
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        // An unknown key is a mistake worth naming (a typo would otherwise change nothing, silently).
        let any = try decoder.container(keyedBy: AnyKey.self)
        if let unknown = any.allKeys.first(where: { CodingKeys(stringValue: $0.stringValue) == nil }) {
            throw DecodingError.dataCorruptedError(forKey: unknown, in: any, debugDescription:
                "unknown setting '\(unknown.stringValue)'; known: \(CodingKeys.allCases.map(\.rawValue).sorted().joined(separator: ", "))")
        }
        buildPushes = try c.patch(.buildPushes)
        buildPullRequests = try c.patch(.buildPullRequests)
        maxConcurrentJobs = try c.patch(.maxConcurrentJobs)
        hardTimeoutSeconds = try c.patch(.hardTimeoutSeconds)
        noOutputTimeoutSeconds = try c.patch(.noOutputTimeoutSeconds)
        maxLogBytes = try c.patch(.maxLogBytes)
        autoCancelPushes = try c.patch(.autoCancelPushes)
        autoCancelPullRequests = try c.patch(.autoCancelPullRequests)
        autoCancelRunningJobs = try c.patch(.autoCancelRunningJobs)
        `private` = try c.patch(.private)
        webhooks = try c.patch(.webhooks)
        webhooksOnStart = try c.patch(.webhooksOnStart)
        webhookSecret = try c.patch(.webhookSecret)
        notificationSecret = try c.patch(.notificationSecret)
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
