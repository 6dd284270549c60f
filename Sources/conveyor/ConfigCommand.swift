import ArgumentParser
import ConveyorModel
import Foundation

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "config", abstract: "Work with build configs.", subcommands: [Expand.self])

    struct Expand: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "expand", abstract: "Print the expanded jobs of a config as JSON.")

        @Argument(help: "A .conveyor.yml or .travis.yml file.") var file: String
        @Option(help: "Branch the build is for.") var branch: String = "main"
        @Option(help: "push, pull_request, api or cron.") var event: String = "push"
        @Option(help: "Commit message (for [ci skip] and conditions).") var commitMessage: String = ""
        @Option(help: "Repository owner/name (for conditions).") var repo: String = "owner/repo"
        @Option(help: "Tag, if the build is for one.") var tag: String?
        @Option(help: "Largest matrix accepted.") var maxJobs: Int = 200

        func run() throws {
            guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
            var limits = ConfigLimits()
            limits.maxJobs = maxJobs
            let context = BuildRequestContext(branch: branch, tag: tag, eventType: event, repo: repo, commitMessage: commitMessage)
            do {
                // Secure values are shown as `NAME=[secure]`, as a build would carry them (sealed).
                let expanded = try ConfigExpander.expand(yamlData: Array(data), context: context, limits: limits, keepSecureValuesSealed: true)
                print(expanded.expandOutputJSON().jsonText(pretty: true))
            } catch {
                FileHandle.standardError.write(Data("\(file): \(error.description)\n".utf8))
                throw ExitCode(2)
            }
        }
    }
}
