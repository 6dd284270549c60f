import ArgumentParser
import ConveyorHTTPClient
import ConveyorModel
import Foundation

/// Talks to a node's web role: `CONVEYOR_API_URL` (default http://127.0.0.1:$CONVEYOR_HTTP_PORT or
/// :8080) with `CONVEYOR_API_TOKEN` as the bearer token.
struct APIOptions: ParsableArguments {
    @Option(help: "Base URL of a node with the web role.")
    var api: String = ProcessInfo.processInfo.environment["CONVEYOR_API_URL"]
        ?? "http://127.0.0.1:\(ProcessInfo.processInfo.environment["CONVEYOR_HTTP_PORT"] ?? "8080")"

    @Option(help: "API token (default: CONVEYOR_API_TOKEN).")
    var token: String?

    @Flag(help: "Print JSON instead of a table.") var json = false

    func client() -> APIClient {
        APIClient(base: api.hasSuffix("/") ? String(api.dropLast()) : api, token: token ?? ProcessInfo.processInfo.environment["CONVEYOR_API_TOKEN"])
    }
}

struct APIClient: Sendable {
    let base: String
    let token: String?

    func raw(_ method: String, _ path: String, body: JSONValue? = nil) async throws -> HTTPResponse {
        var headers = [("Accept", "application/json")]
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        if body != nil { headers.append(("Content-Type", "application/json")) }
        // One client per call: the CLI makes few calls, and each client is shut down explicitly.
        let http = CurlHTTPClient(threads: 1)
        do {
            let response = try await http.send(HTTPRequest(method: method, url: base + path, headers: headers, body: Array((body?.jsonText() ?? "").utf8)))
            await http.shutdown()
            return response
        } catch {
            await http.shutdown()
            throw CLIError("cannot reach \(base): \(error). Is a node with the web role running?")
        }
    }

    func call(_ method: String, _ path: String, body: JSONValue? = nil) async throws -> JSONValue {
        let response = try await raw(method, path, body: body)
        let value = (try? JSONDecoder().decode(JSONValue.self, from: Data(response.body))) ?? .string(response.bodyText)
        guard (200..<300).contains(response.status) else {
            let hint = response.status == 401 && token == nil ? " (set CONVEYOR_API_TOKEN or pass --token)" : ""
            throw CLIError("\(method) \(path): HTTP \(response.status): \(value["error"]?.stringValue ?? response.bodyText)\(hint)")
        }
        return value
    }
}

extension JSONValue {
    subscript(_ key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    var list: [JSONValue] {
        if case .array(let a) = self { return a }
        return []
    }

    /// Plain text for tables.
    var text: String {
        switch self {
        case .null: return "-"
        case .string(let s): return s
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .bool(let b): return b ? "yes" : "no"
        default: return jsonText()
        }
    }
}

/// Left-aligned columns.
func printTable(_ header: [String], _ rows: [[String]]) {
    var widths = header.map(\.count)
    for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, c in i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  ")
    }
    print(line(header))
    for row in rows { print(line(row)) }
}

/// A runtime failure: printed as `Error: …` without the usage text that `ValidationError` adds.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
