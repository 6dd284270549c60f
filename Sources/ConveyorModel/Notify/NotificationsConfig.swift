import Foundation

/// The `notifications:` section of a config, read into the targets the hub notifies (see
/// docs/notifications.md). `secure:` values (webhook URLs, email recipients, Slack rooms) are kept as
/// ciphertext in `sealed` when the expansion keeps secure values sealed (the gatekeeper: the hub
/// decrypts them when it delivers), else decrypted like secure env vars or left out with a warning.
public struct NotificationsConfig: Sendable, Codable, Hashable {
    public struct Webhooks: Sendable, Codable, Hashable {
        public var urls: [String]
        public var rules: NotificationRules
        /// `secure:` URLs, still encrypted with the repository's key (nil: none).
        public var sealed: [String]?

        public init(urls: [String], rules: NotificationRules, sealed: [String]? = nil) {
            self.urls = urls
            self.rules = rules
            self.sealed = sealed
        }
    }

    public struct Email: Sendable, Codable, Hashable {
        /// Empty: the commit's author and committer.
        public var recipients: [String]
        public var rules: NotificationRules
        /// `secure:` recipients, still encrypted with the repository's key (nil: none).
        public var sealed: [String]?

        public init(recipients: [String], rules: NotificationRules, sealed: [String]? = nil) {
            self.recipients = recipients
            self.rules = rules
            self.sealed = sealed
        }
    }

    public struct Slack: Sendable, Codable, Hashable {
        /// Incoming-webhook URLs, each optionally followed by `#channel`.
        public var rooms: [String]
        public var rules: NotificationRules
        /// Lines of the message; nil for Travis's default.
        public var template: [String]?
        public var onPullRequests: Bool
        /// `secure:` rooms, still encrypted with the repository's key (nil: none).
        public var sealed: [String]?

        public init(rooms: [String], rules: NotificationRules, template: [String]? = nil, onPullRequests: Bool = true, sealed: [String]? = nil) {
            self.rooms = rooms
            self.rules = rules
            self.template = template
            self.onPullRequests = onPullRequests
            self.sealed = sealed
        }
    }

    public var webhooks: Webhooks?
    public var email: Email?
    public var slack: Slack?

    public init(webhooks: Webhooks? = nil, email: Email? = nil, slack: Slack? = nil) {
        self.webhooks = webhooks
        self.email = email
        self.slack = slack
    }

    /// Travis's defaults: webhooks and Slack on every finish; email on failure always, on success
    /// only when the result changed.
    public static let webhookDefaults = NotificationRules()
    public static let emailDefaults = NotificationRules(onSuccess: .change, onFailure: .always)
    public static let slackDefaults = NotificationRules()

    /// Email is on by default (to the author and committer), as on Travis; the others only when given.
    static func parse(_ value: JSONValue?, secrets: inout SecureValues, warnings: inout WarningList) -> NotificationsConfig {
        var config = NotificationsConfig(email: Email(recipients: [], rules: emailDefaults))
        guard let value, !value.isNull else { return config }
        guard case .object(let section) = value else {
            if value.boolValue == false { config.email = nil } else { warnings.add("notifications must be a mapping, ignored") }
            return config
        }
        // Top-level on_* keys apply to every kind that does not override them.
        let known: Set<String> = ["webhooks", "email", "slack", "on_start", "on_success", "on_failure", "on_cancel", "on_error"]
        for key in section.keys.sorted() where !known.contains(key) { warnings.add("notifications.\(key) is not supported here, ignored") }
        var shared = section.filter { $0.key.hasPrefix("on_") }
        shared = shared.filter { !$0.value.isNull }

        config.webhooks = targets(section["webhooks"], listKey: "urls", what: "webhooks", secrets: &secrets, warnings: &warnings).map { urls, sealed, object in
            Webhooks(urls: urls, rules: NotificationRules.parse(shared.merging(object) { $1 }, over: webhookDefaults, what: "webhooks", warnings: &warnings),
                     sealed: sealed)
        }
        if let email = section["email"], !email.isNull {
            if email.boolValue == false || email["enabled"]?.boolValue == false {
                config.email = nil
            } else {
                let (recipients, sealed, object) = targets(email, listKey: "recipients", what: "email", secrets: &secrets, warnings: &warnings) ?? ([], nil, [:])
                config.email = Email(recipients: recipients, rules: NotificationRules.parse(shared.merging(object) { $1 }, over: emailDefaults, what: "email", warnings: &warnings),
                                     sealed: sealed)
            }
        } else if !shared.isEmpty {
            config.email = Email(recipients: [], rules: NotificationRules.parse(shared, over: emailDefaults, what: "email", warnings: &warnings))
        }
        config.slack = targets(section["slack"], listKey: "rooms", what: "slack", secrets: &secrets, warnings: &warnings).map { rooms, sealed, object in
            Slack(rooms: rooms, rules: NotificationRules.parse(shared.merging(object) { $1 }, over: slackDefaults, what: "slack", warnings: &warnings),
                  template: object["template"].map { $0.asList.compactMap(\.scalarText) }.flatMap { $0.isEmpty ? nil : $0 },
                  onPullRequests: object["on_pull_requests"]?.boolValue ?? true, sealed: sealed)
        }
        return config
    }

    /// A kind given as one target, a list, or a mapping with the list under `listKey`; `false` or
    /// `enabled: false` turn it off (nil). Targets may be `{secure: …}`: kept as ciphertext (the second
    /// list, nil when empty) when secure values stay sealed, else decrypted here.
    static func targets(_ value: JSONValue?, listKey: String, what: String, secrets: inout SecureValues,
                        warnings: inout WarningList) -> ([String], [String]?, [String: JSONValue])? {
        guard let value, !value.isNull, value.boolValue != false else { return nil }
        var object: [String: JSONValue] = [:]
        var list: [JSONValue]
        switch value {
        case .object(let map) where map["secure"] == nil:
            if map["enabled"]?.boolValue == false { return nil }
            object = map
            list = map[listKey]?.asList ?? []
        default:
            list = value.asList
        }
        var resolved: [String] = []
        var sealed: [String] = []
        for item in list {
            if let ciphertext = item["secure"]?.stringValue, secrets.keepSealed {
                sealed.append(ciphertext.filter { !$0.isWhitespace })
            } else if let ciphertext = item["secure"]?.stringValue {
                if let plaintext = secrets.plaintext(of: ciphertext) {
                    resolved.append(plaintext)
                } else {
                    warnings.add("a secure notifications.\(what) target left out: \(secrets.decrypt == nil ? "no decryption key is configured" : "it could not be decrypted")")
                }
            } else if let text = item.scalarText, !text.isEmpty {
                resolved.append(text)
            } else {
                warnings.add("notifications.\(what).\(listKey) takes strings or secure values; ignored an entry")
            }
        }
        if resolved.isEmpty && sealed.isEmpty && what != "email" { return nil }
        return (resolved, sealed.isEmpty ? nil : sealed, object)
    }
}

extension JSONValue {
    /// A Codable value as a JSON document (nil if it does not encode).
    init?<T: Encodable>(encoding value: T) {
        guard let data = try? JSONEncoder().encode(value), let decoded = try? JSONDecoder().decode(JSONValue.self, from: data) else { return nil }
        self = decoded
    }
}
