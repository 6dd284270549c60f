import ConveyorHTTPClient
import ConveyorModel
import Foundation

/// A config webhook (`notifications.webhooks`) as Travis sends it, so existing receivers keep
/// working: a form-encoded body whose field `payload` holds the JSON (`id`, `number`, `status`,
/// `result`, `status_message`, `branch`, `commit`, `repository`, `matrix`, …), and the headers
/// `Travis-Repo-Slug` and `Signature`.
enum TravisWebhookPayload {
    static func json(_ build: BuildSnapshot, state: String, previousState: String?, publicURL: String?) -> String {
        var payload = WebhookPayload(build, state: state, publicURL: publicURL)
        payload.status_message = TravisStatusMessage.message(state: state, previousState: previousState)
        payload.result_message = payload.status_message
        return payload.json()
    }

    /// `signature`: `RepositoryPrivateKey.travisSignature` of `payloadJSON`; nil leaves the header out.
    static func request(target: String, payloadJSON: String, slug: String, signature: String?, timeout: Duration) -> HTTPRequest {
        var headers: [(String, String)] = [("Content-Type", "application/x-www-form-urlencoded"), ("User-Agent", "Conveyor"),
                                           ("Travis-Repo-Slug", slug)]
        if let signature { headers.append(("Signature", signature)) }
        return HTTPRequest(method: "POST", url: target, headers: headers, body: Array(("payload=" + formEncoded(payloadJSON)).utf8), timeout: timeout)
    }

    /// application/x-www-form-urlencoded: unreserved characters stay, everything else is %XX.
    static func formEncoded(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics.intersection(CharacterSet(charactersIn: Unicode.Scalar(0)..<Unicode.Scalar(128)))
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }
}
