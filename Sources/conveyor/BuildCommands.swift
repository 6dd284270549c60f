import ArgumentParser
import ConveyorModel
import Foundation

struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "submit", abstract: "Create a build of a git repository through the API.")

    @Argument(help: "The repository's git URL or local path.") var repoURL: String
    @Option(help: "Branch to build.") var branch: String = "main"
    @Option(help: "Commit to build (default: the branch's head).") var sha: String?
    @Option(help: "Owner login (default: taken from the repository name).") var owner: String?
    @Option(help: "Repository name (default: the last part of the URL).") var name: String?
    @Option(help: "Commit message shown with the build.") var message: String?
    @OptionGroup var api: APIOptions

    func run() async throws {
        var url = repoURL
        if !url.contains("://") && !url.hasPrefix("git@") {
            url = "file://" + URL(fileURLWithPath: url).standardizedFileURL.path
        }
        let base = (name ?? URL(fileURLWithPath: url).deletingPathExtension().lastPathComponent)
        let slug = "\(owner ?? "local")/\(base)"
        var body: [String: JSONValue] = ["branch": .string(branch), "url": .string(url)]
        if let sha { body["sha"] = .string(sha) }
        if let message { body["message"] = .string(message) }
        let reply = try await api.client().call("POST", "/api/v1/repos/\(slug)/requests", body: .object(body))
        if api.json { print(reply.jsonText(pretty: true)); return }
        print("request \(reply["request"]?.text ?? "?") accepted for \(slug) at \(reply["sha"]?.text ?? "?") (\(branch))")
    }
}

struct BuildsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "builds", abstract: "List builds with their states.")
    @Argument(help: "Repository owner/name (default: all).") var repo: String?
    @Option(help: "How many.") var limit: Int = 20
    @OptionGroup var api: APIOptions

    func run() async throws {
        var path = "/api/v1/builds?limit=\(limit)"
        if let repo { path += "&repo=\(repo.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? repo)" }
        let reply = try await api.client().call("GET", path)
        if api.json { print(reply.jsonText(pretty: true)); return }
        printTable(["ID", "REPO", "NUMBER", "STATE", "BRANCH", "SHA", "CREATED"], (reply["builds"]?.list ?? []).map {
            [$0["id"]?.text ?? "", $0["repo"]?.text ?? "", $0["number"]?.text ?? "", $0["state"]?.text ?? "", $0["branch"]?.text ?? "",
             String(($0["sha"]?.text ?? "").prefix(8)), $0["created_at"]?.text ?? ""]
        })
    }
}

struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "jobs", abstract: "List a build's jobs with their states.")
    @Argument(help: "Build id.") var build: Int64
    @OptionGroup var api: APIOptions

    func run() async throws {
        let reply = try await api.client().call("GET", "/api/v1/builds/\(build)")
        if api.json { print(reply.jsonText(pretty: true)); return }
        let b = reply["build"]
        print("build \(b?["repo"]?.text ?? "")#\(b?["number"]?.text ?? "") \(b?["state"]?.text ?? "")")
        printTable(["ID", "NUMBER", "STAGE", "STATE", "ATTEMPT", "QUEUE", "ALLOW_FAILURE", "REASON"], (reply["jobs"]?.list ?? []).map {
            [$0["id"]?.text ?? "", $0["number"]?.text ?? "", $0["stage"]?.text ?? "-", $0["state"]?.text ?? "", $0["attempt"]?.text ?? "",
             $0["queue"]?.text ?? "", $0["allow_failure"]?.text ?? "", $0["finished_reason"]?.text ?? "-"]
        })
    }
}

struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs", abstract: "Print or follow a job's log.",
        discussion: "On a terminal each fold is one line (name, first line, duration) and timing markers are hidden; "
            + "piped, folds are printed whole without colours. --raw prints the stored bytes.")
    @Argument(help: "Job id.") var job: Int64
    @Flag(help: "Keep printing as the log grows, until the job finishes.") var follow = false
    @Flag(help: "Print the log as stored: markers and escape codes included.") var raw = false
    @Option(help: "Attempt to read (default: the current one).") var attempt: Int?
    @OptionGroup var api: APIOptions

    func run() async throws {
        let client = api.client()
        let terminal = isatty(STDOUT_FILENO) == 1
        var renderer = raw ? nil : LogRenderer(collapseFolds: terminal, colors: terminal)
        func write(_ bytes: [UInt8]) {
            var shown = bytes
            if renderer != nil { shown = renderer!.feed(bytes) }
            if !shown.isEmpty { FileHandle.standardOutput.write(Data(shown)) }
        }
        var offset = 0
        while true {
            var path = "/api/v1/jobs/\(job)/log?offset=\(offset)"
            if let attempt { path += "&attempt=\(attempt)" }
            let response = try await client.raw("GET", path)
            guard response.status == 200 else { throw CLIError("job \(job): HTTP \(response.status): \(response.bodyText)") }
            if !response.body.isEmpty {
                write(response.body)
                offset += response.body.count
            }
            if !follow || response.headers["x-log-complete"] == "true" { break }
            let state = try await client.call("GET", "/api/v1/jobs/\(job)")
            let final = ["passed", "failed", "errored", "canceled"].contains(state["job"]?["state"]?.text ?? "")
            if final && response.body.isEmpty && response.headers["x-log-length"] != nil {
                // Finished; give the final part a moment to arrive, then stop.
                try await Task.sleep(for: .seconds(1))
                let last = try await client.raw("GET", "/api/v1/jobs/\(job)/log?offset=\(offset)")
                write(last.body)
                break
            }
            try await Task.sleep(for: .milliseconds(300))
        }
        if let rest = renderer?.finish(), !rest.isEmpty { FileHandle.standardOutput.write(Data(rest)) }
    }
}

/// `conveyor request ID`: what became of a build request: its state, the build, why it has none, warnings.
struct RequestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "request", abstract: "Show a build request: its outcome and config warnings.")
    @Argument(help: "Request id.") var request: Int64
    @OptionGroup var api: APIOptions

    func run() async throws {
        let reply = try await api.client().call("GET", "/api/v1/requests/\(request)")
        if api.json { print(reply.jsonText(pretty: true)); return }
        print("request \(reply["id"]?.text ?? "?") for \(reply["repo"]?.text ?? "?") (\(reply["event_type"]?.text ?? "?"), \(reply["branch"]?.text ?? "?")): \(reply["state"]?.text ?? "?")")
        if let build = reply["build_id"]?.text, !build.isEmpty { print("build: \(build)") }
        if let message = reply["message"]?.text, !message.isEmpty { print("message: \(message)") }
        for warning in reply["warnings"]?.list ?? [] { print("warning: \(warning.text)") }
    }
}

struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cancel", abstract: "Cancel a job, or a whole build with --build.")
    @Argument(help: "Job id.") var job: Int64?
    @Option(help: "Build id.") var build: Int64?
    @OptionGroup var api: APIOptions

    func run() async throws {
        let path = try controlPath(job: job, build: build, action: "cancel")
        print(try await api.client().call("POST", path).jsonText())
    }
}

struct RestartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "restart", abstract: "Restart a finished job, or a whole build with --build.")
    @Argument(help: "Job id.") var job: Int64?
    @Option(help: "Build id.") var build: Int64?
    @OptionGroup var api: APIOptions

    func run() async throws {
        let path = try controlPath(job: job, build: build, action: "restart")
        print(try await api.client().call("POST", path).jsonText())
    }
}

func controlPath(job: Int64?, build: Int64?, action: String) throws -> String {
    switch (job, build) {
    case (let j?, nil): return "/api/v1/jobs/\(j)/\(action)"
    case (nil, let b?): return "/api/v1/builds/\(b)/\(action)"
    default: throw ValidationError("give a job id or --build ID, not both")
    }
}
