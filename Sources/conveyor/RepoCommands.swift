import ArgumentParser
import ConveyorModel
import Foundation

/// `conveyor repos settings OWNER/NAME [--set key=value …]`.
struct ReposCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "repos", abstract: "Repository settings.", subcommands: [Settings.self])

    struct Settings: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "settings", abstract: "Show or change a repository's settings.",
            discussion: """
                Keys: build_pushes, build_pull_requests, max_concurrent_jobs, hard_timeout_seconds, no_output_timeout_seconds, \
                max_log_bytes, auto_cancel_pushes, auto_cancel_pull_requests, auto_cancel_running_jobs, private, webhooks (comma-separated URLs), \
                webhooks_on_start, webhook_secret, notification_secret. `null` clears a limit or a secret.
                """)
        @Argument(help: "Repository owner/name.") var repo: String
        @Option(name: .customLong("set"), help: "key=value (repeatable).") var changes: [String] = []
        @OptionGroup var api: APIOptions

        func run() async throws {
            let client = api.client()
            let reply: JSONValue
            if changes.isEmpty {
                reply = try await client.call("GET", "/api/v1/repos/\(repo)/settings")
            } else {
                var body: [String: JSONValue] = [:]
                for change in changes {
                    let parts = change.split(separator: "=", maxSplits: 1).map(String.init)
                    guard parts.count == 2 else { throw ValidationError("--set expects key=value, got '\(change)'") }
                    body[parts[0]] = Self.value(key: parts[0], text: parts[1])
                }
                reply = try await client.call("PATCH", "/api/v1/repos/\(repo)/settings", body: .object(body))
            }
            if api.json { print(reply.jsonText(pretty: true)); return }
            guard case .object(let object) = reply else { print(reply.jsonText()); return }
            printTable(["SETTING", "VALUE"], object.keys.sorted().map { [$0, object[$0].map(Self.shown) ?? "-"] })
        }

        /// Text to JSON: null, booleans and integers as such; webhooks as a list; anything else a string.
        static func value(key: String, text: String) -> JSONValue {
            if text == "null" { return .null }
            if key == "webhooks" { return .array(text.split(separator: ",").map { .string($0.trimmingCharacters(in: .whitespaces)) }) }
            if key.hasSuffix("secret") { return .string(text) }
            if let bool = ["true": true, "yes": true, "on": true, "false": false, "no": false, "off": false][text.lowercased()] { return .bool(bool) }
            if let int = Int(text) { return .int(int) }
            return .string(text)
        }

        static func shown(_ value: JSONValue) -> String {
            if case .array(let list) = value { return list.isEmpty ? "-" : list.map(\.text).joined(separator: ",") }
            return value.text
        }
    }
}

/// `conveyor env list|set|unset --repo OWNER/NAME`: the repository settings' env vars.
struct EnvCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "env", abstract: "Environment variables of a repository's settings.",
                                                    subcommands: [List.self, SetVar.self, Unset.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List them (secret values are never shown).")
        @Option(help: "Repository owner/name.") var repo: String
        @OptionGroup var api: APIOptions

        func run() async throws {
            let reply = try await api.client().call("GET", "/api/v1/repos/\(repo)/env_vars")
            if api.json { print(reply.jsonText(pretty: true)); return }
            printTable(["ID", "NAME", "VALUE", "PUBLIC", "BRANCH"], (reply["env_vars"]?.list ?? []).map {
                let isPublic = $0["public"]?.boolValue ?? false
                return [$0["id"]?.text ?? "", $0["name"]?.text ?? "", isPublic ? ($0["value"]?.text ?? "") : "[secure]",
                        isPublic ? "yes" : "no", $0["branch"]?.text ?? "-"]
            })
        }
    }

    struct SetVar: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set", abstract: "Create or replace a variable (secret unless --public).")
        @Argument(help: "NAME, NAME=value, or NAME then the value on stdin.") var assignment: String
        @Argument(help: "The value (or give it as NAME=value, or on stdin).") var value: String?
        @Option(help: "Repository owner/name.") var repo: String
        @Flag(help: "Show the value in logs and the API (default: secret).") var `public` = false
        @Option(help: "Only for builds of this branch.") var branch: String?
        @OptionGroup var api: APIOptions

        func run() async throws {
            var name = assignment
            var text = value
            if text == nil, let equals = assignment.firstIndex(of: "=") {
                name = String(assignment[..<equals])
                text = String(assignment[assignment.index(after: equals)...])
            }
            if text == nil {
                var read = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
                if read.hasSuffix("\n") { read.removeLast() }
                text = read
            }
            var body: [String: JSONValue] = ["name": .string(name), "value": .string(text ?? ""), "public": .bool(`public`)]
            if let branch { body["branch"] = .string(branch) }
            let reply = try await api.client().call("POST", "/api/v1/repos/\(repo)/env_vars", body: .object(body))
            if api.json { print(reply.jsonText(pretty: true)); return }
            print("set \(name) (\(`public` ? "public" : "secret")\(branch.map { ", branch \($0)" } ?? "")) on \(repo); builds from now on get it")
        }
    }

    struct Unset: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "unset", abstract: "Delete a variable.")
        @Argument(help: "NAME") var name: String
        @Option(help: "Repository owner/name.") var repo: String
        @Option(help: "The branch it was set for (default: the every-branch one).") var branch: String?
        @OptionGroup var api: APIOptions

        func run() async throws {
            let client = api.client()
            let list = try await client.call("GET", "/api/v1/repos/\(repo)/env_vars")["env_vars"]?.list ?? []
            guard let match = list.first(where: { $0["name"]?.stringValue == name && $0["branch"]?.stringValue == branch }),
                  let id = match["id"]?.text else {
                throw CLIError("\(repo) has no env var \(name)\(branch.map { " for branch \($0)" } ?? "")")
            }
            _ = try await client.call("DELETE", "/api/v1/repos/\(repo)/env_vars/\(id)")
            print("unset \(name) on \(repo)")
        }
    }
}
