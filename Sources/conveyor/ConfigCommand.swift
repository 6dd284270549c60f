import ArgumentParser
import ConveyorModel
import Foundation

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "config", abstract: "Work with build configs.", subcommands: [Expand.self])

    struct Expand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "expand",
            abstract: "Print the expanded jobs of a config, for a build context given as flags.",
            discussion: "Warnings, and why a build would be skipped or have no jobs, go to stderr.")

        @Argument(help: "A .conveyor.yml or .travis.yml file.") var file: String
        @Option(help: "Branch the build is for (a pull request's base branch).") var branch: String = "main"
        @Option(help: "push, pull_request, api or cron.") var event: String = "push"
        @Option(help: "Commit message (for [ci skip] and conditions).") var commitMessage: String = ""
        @Option(help: "Repository owner/name (for conditions).") var repo: String = "owner/repo"
        @Option(help: "Tag, if the build is for one.") var tag: String?
        @Option(help: "Pull request number (implies --event pull_request).") var pullRequest: Int?
        @Flag(help: "The pull request comes from a fork.") var fork = false
        @Option(help: "The pull request's head repository owner/name (default: the fork's, else --repo).") var headRepo: String?
        @Option(help: "The pull request's head branch.") var headBranch: String?
        @Option(help: "The pull request's head commit.") var headSha: String?
        @Option(help: "Who triggered the build (sender in conditions).") var sender: String?
        @Option(name: .customLong("env"), help: "A repository settings env var, NAME=VALUE (repeatable); conditions' env() sees it.")
        var settingsEnv: [String] = []
        @Option(help: "json or text (a table of the jobs).") var format: OutputFormat = .json
        @Option(help: "Largest matrix accepted.") var maxJobs: Int = 200

        enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
            case json, text
        }

        func validate() throws {
            let events = ["push", "pull_request", "api", "cron"]
            guard events.contains(event) else { throw ValidationError("--event must be one of \(events.joined(separator: ", ")), got '\(event)'") }
            if fork && pullRequest == nil && event != "pull_request" { throw ValidationError("--fork needs --pull-request N") }
            for item in settingsEnv where !Self.isAssignment(item) {
                throw ValidationError("--env takes NAME=VALUE, got '\(item)'")
            }
        }

        func run() throws {
            guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
            var limits = ConfigLimits()
            limits.maxJobs = maxJobs
            do {
                let expanded = try ConfigExpander.expand(yamlData: Array(data), context: context(), limits: limits,
                                                         keepSecureValuesSealed: true)  // secure values shown as NAME=[secure], as a build carries them
                for warning in expanded.warnings { Self.standardError("warning: \(warning)") }
                if let skipped = expanded.skipped { Self.standardError("skipped: \(skipped)") }
                if let reason = expanded.noJobsReason { Self.standardError("no jobs: \(reason)") }
                switch format {
                case .json: print(expanded.expandOutputJSON().jsonText(pretty: true))
                case .text: printJobs(expanded)
                }
            } catch {
                Self.standardError("\(file): \(error.description)")
                throw ExitCode(2)
            }
        }

        func context() -> BuildRequestContext {
            let isPullRequest = pullRequest != nil || event == "pull_request"
            let head = headRepo ?? (fork ? "fork/\(repo.split(separator: "/").last ?? "repo")" : repo)
            let env = settingsEnv.map { item -> EnvVar in
                let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                return EnvVar(name: String(parts[0]), value: parts.count > 1 ? String(parts[1]) : "")
            }
            return BuildRequestContext(
                branch: branch, tag: tag, eventType: isPullRequest ? "pull_request" : event, repo: repo, sender: sender,
                fork: isPullRequest && fork, commitMessage: commitMessage, pullRequestBaseBranch: isPullRequest ? branch : nil,
                headRepo: isPullRequest ? head : nil, pullRequest: pullRequest, headBranch: isPullRequest ? headBranch ?? branch : nil,
                headSha: isPullRequest ? headSha : nil, settingsEnv: env)
        }

        private func printJobs(_ expanded: ExpandedBuild) {
            let columns = ["language", "os", "dist", "arch"] + Self.versionColumns(expanded.jobs)
            printTable(["#", "STAGE", "NAME"] + columns.map { $0.uppercased() } + ["ENV", "ALLOW_FAILURE"], expanded.jobs.map { job in
                var cells = [String(job.number), job.stage ?? "-", job.name ?? "-"]
                cells += columns.map { job.keys[$0]?.scalarText ?? "-" }
                cells.append(job.env.isEmpty ? "-" : job.env.map(\.displayText).joined(separator: " "))
                cells.append(job.allowFailure ? "yes" : "no")
                return cells
            })
        }

        /// Matrix keys besides language/os/dist/arch that some job sets, in expansion order.
        private static func versionColumns(_ jobs: [JobSpec]) -> [String] {
            let used = Set(jobs.flatMap { $0.keys.keys })
            return ConfigKeyNames.expansion.filter { used.contains($0) && !["os", "dist", "arch"].contains($0) }
        }

        static func isAssignment(_ text: String) -> Bool {
            guard let equals = text.firstIndex(of: "="), equals != text.startIndex else { return false }
            return text[..<equals].allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
        }

        static func standardError(_ line: String) {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }
}
