/// What a job's environment says about its build, as travis-build names it (docs/config.md, "Build
/// environment"). The worker fills it from the job's rows; `BuildEnvironment.variables` turns it into
/// the `TRAVIS_*` variables and their `CONVEYOR_*` twins.
public struct BuildFacts: Sendable, Hashable {
    public var repoSlug: String
    public var buildID: Int64
    public var buildNumber: Int
    public var jobID: Int64
    /// "12.3"
    public var jobNumber: String
    /// push | pull_request | api | cron
    public var eventType: String
    /// The branch built; for a pull request, its base branch.
    public var branch: String
    public var tag: String?
    public var commit: String
    public var commitMessage: String
    /// The commit before the push (GitHub's `before`), or a pull request's base commit.
    public var previousCommit: String?
    public var pullRequest: Int?
    public var pullRequestBranch: String?
    public var pullRequestSha: String?
    public var pullRequestSlug: String?
    /// Where the web UI is reached (settings `public_url`); nil leaves the web URLs empty.
    public var webURL: String?

    public init(repoSlug: String, buildID: Int64, buildNumber: Int, jobID: Int64, jobNumber: String, eventType: String,
                branch: String, tag: String? = nil, commit: String, commitMessage: String = "", previousCommit: String? = nil,
                pullRequest: Int? = nil, pullRequestBranch: String? = nil, pullRequestSha: String? = nil,
                pullRequestSlug: String? = nil, webURL: String? = nil) {
        self.repoSlug = repoSlug
        self.buildID = buildID
        self.buildNumber = buildNumber
        self.jobID = jobID
        self.jobNumber = jobNumber
        self.eventType = eventType
        self.branch = branch
        self.tag = tag
        self.commit = commit
        self.commitMessage = commitMessage
        self.previousCommit = previousCommit
        self.pullRequest = pullRequest
        self.pullRequestBranch = pullRequestBranch
        self.pullRequestSha = pullRequestSha
        self.pullRequestSlug = pullRequestSlug
        self.webURL = webURL
    }

    /// A pull request from another repository: its secure values are never given to the build.
    public var isForkPullRequest: Bool {
        guard pullRequest != nil, let slug = pullRequestSlug else { return false }
        return slug.lowercased() != repoSlug.lowercased()
    }

    /// `before...after` of a push (none for a new branch, whose `before` is all zeros), `base...head` of a
    /// pull request.
    public var commitRange: String {
        guard let previous = previousCommit, !previous.isEmpty, previous.contains(where: { $0 != "0" }) else { return "" }
        return "\(previous)...\(pullRequestSha ?? commit)"
    }
}

public enum BuildEnvironment {
    /// travis-build's built-in variables, then the same values as `CONVEYOR_*`. `TRAVIS_BUILD_DIR` is set
    /// by the script (it knows where it clones) and `TRAVIS_TEST_RESULT` after the script phase.
    /// `TRAVIS_SECURE_ENV_VARS` is true only when the job has secure values and isn't a fork's pull request.
    public static func variables(job: JobSpec, facts: BuildFacts) -> [EnvVar] {
        let web = facts.webURL.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        let secure = !facts.isForkPullRequest && job.env.contains(where: \.secure)
        let pairs: [(String, String)] = [
            ("ALLOW_FAILURE", String(job.allowFailure)),
            ("BRANCH", facts.branch),
            ("BUILD_ID", String(facts.buildID)),
            ("BUILD_NUMBER", String(facts.buildNumber)),
            ("BUILD_WEB_URL", web.map { "\($0)/builds/\(facts.buildID)" } ?? ""),
            ("BUILD_STAGE_NAME", job.stage.map(capitalizedStage) ?? ""),
            ("COMMIT", facts.commit),
            ("COMMIT_MESSAGE", facts.commitMessage),
            ("COMMIT_RANGE", facts.commitRange),
            ("CPU_ARCH", job.arch ?? "amd64"),
            ("DIST", job.dist ?? ""),
            ("EVENT_TYPE", facts.eventType),
            ("JOB_ID", String(facts.jobID)),
            ("JOB_NAME", job.name ?? ""),
            ("JOB_NUMBER", facts.jobNumber),
            ("JOB_WEB_URL", web.map { "\($0)/jobs/\(facts.jobID)" } ?? ""),
            ("LANGUAGE", job.language),
            ("OS_NAME", job.os),
            ("OSX_IMAGE", job.keys["osx_image"]?.scalarText ?? ""),
            ("PULL_REQUEST", facts.pullRequest.map(String.init) ?? "false"),
            ("PULL_REQUEST_BRANCH", facts.pullRequest == nil ? "" : facts.pullRequestBranch ?? ""),
            ("PULL_REQUEST_SHA", facts.pullRequest == nil ? "" : facts.pullRequestSha ?? ""),
            ("PULL_REQUEST_SLUG", facts.pullRequest == nil ? "" : facts.pullRequestSlug ?? ""),
            ("REPO_SLUG", facts.repoSlug),
            ("SECURE_ENV_VARS", String(secure)),
            ("TAG", facts.tag ?? ""),
        ]
        return ["TRAVIS", "CONVEYOR"].flatMap { prefix in
            pairs.map { EnvVar(name: "\(prefix)_\($0.0)", value: $0.1) }
        }
    }

    /// travis-build shows stage names capitalized ("deploy" → "Deploy").
    private static func capitalizedStage(_ name: String) -> String {
        name.prefix(1).uppercased() + name.dropFirst()
    }
}
