import ArgumentParser
import ConveyorModel
import Foundation

/// `conveyor crons list|add|delete --repo OWNER/NAME` (docs/cron.md).
struct CronsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "crons", abstract: "A repository's cron builds.",
                                                    subcommands: [List.self, Add.self, Delete.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Crons with their last and next run.")
        @Option(help: "Repository owner/name.") var repo: String
        @OptionGroup var api: APIOptions
        func run() async throws {
            let reply = try await api.client().call("GET", "/api/v1/repos/\(repo)/crons")
            if api.json { print(reply.jsonText(pretty: true)); return }
            printTable(["ID", "BRANCH", "INTERVAL", "SKIP_IF_RECENT", "LAST_RUN", "NEXT_RUN", "LAST_OUTCOME"], (reply["crons"]?.list ?? []).map {
                [$0["id"]?.text ?? "", $0["branch"]?.text ?? "", $0["interval"]?.text ?? "", $0["dont_run_if_recent_build_exists"]?.text ?? "",
                 $0["last_run_at"]?.text ?? "-", $0["next_run_at"]?.text ?? "", $0["last_outcome"]?.text ?? "-"]
            })
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Build a branch daily, weekly or monthly (first run right away).")
        @Option(help: "Repository owner/name.") var repo: String
        @Option(help: "Branch to build.") var branch: String
        @Option(help: "daily, weekly or monthly.") var interval: String
        @Flag(name: .customLong("dont-run-if-recent-build-exists"), help: "Skip a run when the branch built in the last 24 hours.")
        var dontRunIfRecentBuildExists = false
        @OptionGroup var api: APIOptions
        func run() async throws {
            let reply = try await api.client().call("POST", "/api/v1/repos/\(repo)/crons", body: .object([
                "branch": .string(branch), "interval": .string(interval), "dont_run_if_recent_build_exists": .bool(dontRunIfRecentBuildExists),
            ]))
            if api.json { print(reply.jsonText(pretty: true)); return }
            print("cron \(reply["id"]?.text ?? "?"): \(repo) \(branch) \(interval), next run \(reply["next_run_at"]?.text ?? "?")")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a cron by id or by branch.")
        @Option(help: "Repository owner/name.") var repo: String
        @Option(help: "The cron's branch.") var branch: String?
        @Option(help: "The cron's id.") var id: Int64?
        @OptionGroup var api: APIOptions
        func validate() throws {
            if (branch == nil) == (id == nil) { throw ValidationError("give exactly one of --branch or --id") }
        }
        func run() async throws {
            let path = id.map { "/api/v1/repos/\(repo)/crons/\($0)" }
                ?? "/api/v1/repos/\(repo)/crons?branch=\(branch!.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? "")"
            let reply = try await api.client().call("DELETE", path)
            print(api.json ? reply.jsonText(pretty: true) : "deleted \(reply["deleted"]?.text ?? "0")")
        }
    }
}
