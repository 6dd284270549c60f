import ConveyorCore
import ConveyorHTTPClient
import ConveyorModel
import Foundation

/// `notifications.email`: a plain-text message per build result, sent with libcurl's SMTP to
/// `smtp_url` as `smtp_from` (docs/notifications.md). The subject is Travis's:
/// `Passed: owner/repo#12 (main - 1a2b3c4)`.
enum EmailNotifier {
    struct Message: Codable, Sendable {
        var subject: String
        var body: String

        func json() -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        }
    }

    static func message(_ build: BuildSnapshot, state: String, previousState: String?, publicURL: String?) -> Message {
        let status = TravisStatusMessage.message(state: state, previousState: previousState)
        let subject = "\(status): \(build.slug)#\(build.number) (\(build.branch) - \(build.sha.prefix(7)))"
        var lines = [
            "Build #\(build.number) of \(build.slug) on \(build.branch): \(status.lowercased()).",
            "",
            "Commit:  \(build.sha)",
            "Message: \(build.message)",
        ]
        if let started = build.startedMillis, let finished = build.finishedMillis {
            lines.append("Time:    \(SlackNotifier.duration(seconds: max(0, (finished - started) / 1000)))")
        }
        if let base = publicURL { lines.append("Build:   \(base.hasSuffix("/") ? String(base.dropLast()) : base)/builds/\(build.id)") }
        lines.append("")
        lines.append("Jobs:")
        for job in build.jobs {
            lines.append("  \(job.number)  \(job.state)\(job.allowFailure ? " (allowed to fail)" : "")")
        }
        return Message(subject: subject, body: lines.joined(separator: "\n"))
    }

    /// Sends a stored delivery (target: comma-separated recipients); returns nil or why it failed.
    static func send(target: String, payloadJSON: String, deliveryID: Int64, settings: Settings) async -> String? {
        guard let url = settings.smtpURL else { return "smtp_url is not set" }
        guard let message = try? JSONDecoder().decode(Message.self, from: Data(payloadJSON.utf8)) else { return "stored email is not valid JSON" }
        let recipients = target.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let host = settings.publicURL.flatMap { URL(string: $0)?.host } ?? "conveyor.invalid"
        let bytes = SMTPMail.compose(from: settings.smtpFrom, to: recipients, subject: message.subject, body: message.body,
                                     messageID: "delivery-\(deliveryID).\(UUID().uuidString.prefix(8))@\(host)")
        do {
            try await SMTPSender.send(SMTPMail(url: url, from: settings.smtpFrom, recipients: recipients, message: bytes,
                                               username: settings.smtpUser, password: settings.smtpPassword, requireTLS: settings.smtpRequireTLS))
            return nil
        } catch {
            return "\(error)"
        }
    }
}
