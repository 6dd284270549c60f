/// When a notification is sent, as Travis's `on_start`, `on_success`, `on_failure`, `on_cancel`,
/// `on_error` say: `always`, `never`, or `change` (the state differs from the branch's previous
/// build). See docs/notifications.md.
public enum NotifyWhen: String, Sendable, Codable, Hashable {
    case always, never, change
}

public struct NotificationRules: Sendable, Codable, Hashable {
    public var onStart: NotifyWhen
    public var onSuccess: NotifyWhen
    public var onFailure: NotifyWhen
    public var onCancel: NotifyWhen
    public var onError: NotifyWhen

    public init(onStart: NotifyWhen = .never, onSuccess: NotifyWhen = .always, onFailure: NotifyWhen = .always,
                onCancel: NotifyWhen = .always, onError: NotifyWhen = .always) {
        self.onStart = onStart
        self.onSuccess = onSuccess
        self.onFailure = onFailure
        self.onCancel = onCancel
        self.onError = onError
    }

    enum CodingKeys: String, CodingKey {
        case onStart = "on_start", onSuccess = "on_success", onFailure = "on_failure", onCancel = "on_cancel", onError = "on_error"
    }

    /// Whether a build that just started (`finishedState` nil) or finished in `finishedState`
    /// notifies, given the state of the branch's previous finished build.
    public func shouldNotify(finishedState: String?, previousState: String?) -> Bool {
        guard let state = finishedState else { return onStart != .never }
        let rule: NotifyWhen
        switch state {
        case "passed": rule = onSuccess
        case "failed": rule = onFailure
        case "canceled": rule = onCancel
        case "errored": rule = onError
        default: return false
        }
        switch rule {
        case .always: return true
        case .never: return false
        case .change: return previousState != state
        }
    }

    /// Reads the `on_*` keys of `section` over `defaults`; a bad value warns and keeps the default.
    /// `on_success: false`/`true` are read as never/always, as travis-yml does.
    static func parse(_ section: [String: JSONValue], over defaults: NotificationRules, what: String, warnings: inout WarningList) -> NotificationRules {
        var rules = defaults
        func read(_ key: String, _ path: WritableKeyPath<NotificationRules, NotifyWhen>) {
            guard let value = section[key], !value.isNull else { return }
            if let flag = value.boolValue {
                rules[keyPath: path] = flag ? .always : .never
            } else if let text = value.scalarText, let when = NotifyWhen(rawValue: text.lowercased()) {
                rules[keyPath: path] = when
            } else {
                warnings.add("notifications.\(what).\(key) must be always, never or change; using \(defaults[keyPath: path].rawValue)")
            }
        }
        read("on_start", \.onStart)
        read("on_success", \.onSuccess)
        read("on_failure", \.onFailure)
        read("on_cancel", \.onCancel)
        read("on_error", \.onError)
        return rules
    }
}

/// Travis's words for a result next to the previous one (the webhook's `status_message`, the
/// subject of an email): Passed, Fixed, Broken, Failed, Still Failing, Canceled, Errored, Pending.
public enum TravisStatusMessage {
    public static func message(state: String, previousState: String?) -> String {
        switch state {
        case "passed": return previousState == nil || previousState == "passed" ? "Passed" : "Fixed"
        case "failed":
            if previousState == "passed" { return "Broken" }
            return previousState == "failed" ? "Still Failing" : "Failed"
        case "canceled": return "Canceled"
        case "errored": return "Errored"
        default: return "Pending"
        }
    }
}
