import ArgumentParser
import ConveyorModel

struct QueuesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "queues", abstract: "Queues and streams: length, pending, lag.")
    @OptionGroup var api: APIOptions

    func run() async throws {
        let reply = try await api.client().call("GET", "/api/v1/queues")
        if api.json { print(reply.jsonText(pretty: true)); return }
        printTable(["QUEUE", "LENGTH", "PENDING", "LAG", "CONSUMERS"], (reply["queues"]?.list ?? []).map {
            [$0["name"]?.text ?? "", $0["length"]?.text ?? "", $0["pending"]?.text ?? "", $0["lag"]?.text ?? "", $0["consumers"]?.text ?? ""]
        })
        print("")
        printTable(["STREAM", "GROUP", "LENGTH", "PENDING", "LAG"], (reply["streams"]?.list ?? []).map {
            [$0["stream"]?.text ?? "", $0["group"]?.text ?? "", $0["length"]?.text ?? "", $0["pending"]?.text ?? "", $0["lag"]?.text ?? ""]
        })
    }
}

struct NodesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "nodes", abstract: "Nodes, alive and dead.")
    @OptionGroup var api: APIOptions

    func run() async throws {
        let reply = try await api.client().call("GET", "/api/v1/nodes")
        if api.json { print(reply.jsonText(pretty: true)); return }
        printTable(["NODE", "STATUS", "ROLES", "SLOTS", "BUSY", "VERSION"], (reply["nodes"]?.list ?? []).map {
            [$0["id"]?.text ?? "", $0["status"]?.text ?? "", $0["roles"]?.text ?? "", $0["slots"]?.text ?? "", $0["busy"]?.text ?? "", $0["version"]?.text ?? ""]
        })
    }
}

struct OwnersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "owners", abstract: "Owners, their limits, and why their jobs wait.",
                                                    subcommands: [List.self, Show.self, SetLimit.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Every owner with its limit and counts.")
        @OptionGroup var api: APIOptions
        func run() async throws {
            let reply = try await api.client().call("GET", "/api/v1/owners")
            if api.json { print(reply.jsonText(pretty: true)); return }
            printTable(["OWNER", "LIMIT", "RUNNING", "WAITING"], (reply["owners"]?.list ?? []).map {
                [$0["login"]?.text ?? "", $0["limit"]?.text ?? "", $0["running"]?.text ?? "", $0["waiting"]?.text ?? ""]
            })
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "An owner's queue: each waiting job and why it waits.")
        @Argument var login: String
        @OptionGroup var api: APIOptions
        func run() async throws {
            let r = try await api.client().call("GET", "/api/v1/owners/\(login)/queue")
            if api.json { print(r.jsonText(pretty: true)); return }
            print("\(login): total=\((Int(r["running"]?.text ?? "") ?? 0) + (Int(r["waiting"]?.text ?? "") ?? 0)), running=\(r["running"]?.text ?? ""), max=\(r["max"]?.text ?? ""), queueable=\(r["queueable"]?.text ?? "")")
            printTable(["POSITION", "JOB", "REPO", "QUEUE", "REASON"], (r["jobs"]?.list ?? []).map {
                [$0["position"]?.text ?? "", $0["job"]?.text ?? "", $0["repo"]?.text ?? "", $0["queue"]?.text ?? "", $0["reason"]?.text ?? ""]
            })
        }
    }

    struct SetLimit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set-limit", abstract: "Change an owner's concurrency limit at runtime.")
        @Argument var login: String
        @Argument var limit: Int
        @OptionGroup var api: APIOptions
        func run() async throws {
            print(try await api.client().call("PUT", "/api/v1/owners/\(login)", body: .object(["limit": .int(limit)])).jsonText())
        }
    }
}
