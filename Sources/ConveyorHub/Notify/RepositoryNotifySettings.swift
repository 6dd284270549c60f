import Foundation

/// The notification part of `repositories.settings`:
/// `{"webhooks": ["https://…"], "webhook_secret": "…", "webhooks_on_start": false}`.
struct RepositoryNotifySettings: Sendable, Equatable {
    var webhooks: [String] = []
    var webhookSecret: String?
    /// Like Travis's `on_start`: off by default, webhooks are sent when a build finishes.
    var webhooksOnStart = false

    init(json: String?) {
        guard let json, let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return }
        if let list = object["webhooks"] as? [Any] {
            webhooks = list.compactMap { $0 as? String }.filter { !$0.isEmpty }
        } else if let single = object["webhooks"] as? String, !single.isEmpty {
            webhooks = [single]
        }
        webhookSecret = (object["webhook_secret"] as? String).flatMap { $0.isEmpty ? nil : $0 }
        webhooksOnStart = object["webhooks_on_start"] as? Bool ?? false
    }
}
