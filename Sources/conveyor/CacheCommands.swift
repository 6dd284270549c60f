import ArgumentParser
import ConveyorModel
import Foundation

/// `conveyor caches list|delete --repo OWNER/NAME [--branch B]` (docs/cache.md).
struct CachesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "caches", abstract: "A repository's build caches.",
                                                    subcommands: [List.self, Delete.self], defaultSubcommand: List.self)

    /// `/api/v1/repos/OWNER/NAME/caches[?branch=B]`, the branch encoded whatever it holds.
    static func path(repo: String, branch: String?) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let query = branch.map { "?branch=" + ($0.addingPercentEncoding(withAllowedCharacters: allowed) ?? "") } ?? ""
        return "/api/v1/repos/\(repo)/caches\(query)"
    }

    static func printCaches(_ reply: JSONValue) {
        printTable(["BRANCH", "NAME", "SIZE", "LAST_MODIFIED", "STORE"], (reply["caches"]?.list ?? []).map {
            [$0["branch"]?.text ?? "", $0["name"]?.text ?? "", $0["size"]?.text ?? "", $0["last_modified"]?.text ?? "", $0["store"]?.text ?? ""]
        })
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Caches by branch, with their size and age.")
        @Option(help: "Repository owner/name.") var repo: String
        @Option(help: "Only this branch's caches.") var branch: String?
        @OptionGroup var api: APIOptions
        func run() async throws {
            let reply = try await api.client().call("GET", CachesCommand.path(repo: repo, branch: branch))
            if api.json { print(reply.jsonText(pretty: true)); return }
            CachesCommand.printCaches(reply)
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a repository's caches (one branch's with --branch).")
        @Option(help: "Repository owner/name.") var repo: String
        @Option(help: "Only this branch's caches.") var branch: String?
        @OptionGroup var api: APIOptions
        func run() async throws {
            let reply = try await api.client().call("DELETE", CachesCommand.path(repo: repo, branch: branch))
            if api.json { print(reply.jsonText(pretty: true)); return }
            print("deleted \(reply["caches"]?.list.count ?? 0) cache(s)")
            for error in reply["errors"]?.list ?? [] { print("warning: \(error.text)") }
        }
    }
}
