import ConveyorHTTPClient
import ConveyorModel
import Foundation

/// `notifications.slack`: Travis's message, posted to an incoming-webhook URL as an attachment
/// coloured by the result. A room is `https://hooks.slack.com/services/…` optionally followed by
/// `#channel` (docs/notifications.md).
enum SlackNotifier {
    static let defaultTemplate = [
        "Build <%{build_url}|#%{build_number}> (<%{compare_url}|%{commit}>) of %{repository_slug}@%{branch} by %{author} %{result} in %{duration}",
    ]

    static func split(room: String) -> (url: String, channel: String?) {
        guard let hash = room.lastIndex(of: "#"), !room[room.index(after: hash)...].contains("/") else { return (room, nil) }
        let channel = String(room[room.index(after: hash)...])
        return (String(room[..<hash]), channel.isEmpty ? nil : "#" + channel)
    }

    static func payload(_ build: BuildSnapshot, state: String, template: [String]?, channel: String?, pullRequest: Int?, author: String?,
                        publicURL: String?) -> String {
        let variables = variables(build, state: state, pullRequest: pullRequest, author: author, publicURL: publicURL)
        let text = (template ?? defaultTemplate).map { render($0, variables) }
            .joined(separator: "\n")
        var object: [String: Any] = [
            "attachments": [["fallback": text, "text": text, "color": color(state), "mrkdwn_in": ["text"]]],
        ]
        if let channel { object["channel"] = channel }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// A stored payload with `channel` set: a secure room's channel is known only when it is opened.
    static func payload(_ payloadJSON: String, channel: String) -> String {
        guard var object = (try? JSONSerialization.jsonObject(with: Data(payloadJSON.utf8))) as? [String: Any] else { return payloadJSON }
        object["channel"] = channel
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return payloadJSON }
        return String(decoding: data, as: UTF8.self)
    }

    static func request(target: String, payloadJSON: String, timeout: Duration) -> HTTPRequest {
        HTTPRequest(method: "POST", url: target, headers: [("Content-Type", "application/json"), ("User-Agent", "Conveyor")],
                    body: Array(payloadJSON.utf8), timeout: timeout)
    }

    static func color(_ state: String) -> String {
        switch state {
        case "passed": return "good"
        case "failed": return "danger"
        default: return "warning"
        }
    }

    /// Travis's template variables.
    static func variables(_ build: BuildSnapshot, state: String, pullRequest: Int?, author: String?, publicURL: String?) -> [String: String] {
        let buildURL = publicURL.map { "\($0.hasSuffix("/") ? String($0.dropLast()) : $0)/builds/\(build.id)" } ?? ""
        let seconds = build.startedMillis.flatMap { started in build.finishedMillis.map { max(0, ($0 - started) / 1000) } } ?? 0
        return [
            "repository": build.slug, "repository_slug": build.slug, "repository_name": build.repositoryName,
            "build_id": String(build.id), "build_number": String(build.number), "build_url": buildURL,
            "branch": build.branch, "commit": String(build.sha.prefix(7)), "commit_message": build.message,
            "commit_subject": String(build.message.split(separator: "\n", omittingEmptySubsequences: false).first ?? ""),
            "author": author ?? "", "result": state, "message": TravisStatusMessage.message(state: state, previousState: nil),
            "duration": duration(seconds: seconds), "elapsed_time": duration(seconds: seconds),
            "compare_url": buildURL, "pull_request": pullRequest == nil ? "false" : "true",
            "pull_request_number": pullRequest.map(String.init) ?? "", "pull_request_url": "",
        ]
    }

    /// `%{name}` replaced by its value; unknown names are left as they are.
    static func render(_ template: String, _ variables: [String: String]) -> String {
        var output = ""
        var rest = Substring(template)
        while let start = rest.range(of: "%{") {
            output += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                output += rest[start.lowerBound...]
                return output
            }
            let name = String(rest[start.upperBound..<end])
            output += variables[name] ?? "%{\(name)}"
            rest = rest[rest.index(after: end)...]
        }
        return output + rest
    }

    /// "1 min 5 sec", as Travis writes durations.
    static func duration(seconds: Int64) -> String {
        let hours = seconds / 3600, minutes = seconds / 60 % 60, secs = seconds % 60
        var parts: [String] = []
        if hours > 0 { parts.append("\(hours) hrs") }
        if minutes > 0 { parts.append("\(minutes) min") }
        parts.append("\(secs) sec")
        return parts.joined(separator: " ")
    }
}
