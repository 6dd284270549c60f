/// Opens a job's sealed env vars (`EnvVar.sealed`) just before it runs: the worker passes one opener per
/// kind of sealing. A value that cannot be opened is left out with a line for the job's log, as
/// `SecureValues` does at expansion. Opened vars are `secure`: exported, masked in the log.
public enum SealedEnv {
    /// Called with the variable's name (empty when the ciphertext holds `NAME=value`) and its sealed value.
    public typealias Opener = (_ name: String, _ sealed: String) -> String?

    public struct Opened: Sendable, Equatable {
        public var env: [EnvVar]
        /// One line per value left out, for the top of the job's log (never the value).
        public var notices: [String]

        public init(env: [EnvVar], notices: [String]) {
            self.env = env
            self.notices = notices
        }
    }

    public static func open(_ env: [EnvVar], repositoryKey: Opener?, clusterKey: Opener?) -> Opened {
        var opened = Opened(env: [], notices: [])
        for variable in env {
            guard let sealing = variable.sealed else {
                opened.env.append(variable)
                continue
            }
            let label = variable.name.isEmpty ? "a secure env var" : "secure env var \(variable.name)"
            let opener = sealing == .repositoryKey ? repositoryKey : clusterKey
            guard let opener else {
                let missing = sealing == .repositoryKey ? "the repository has no key pair" : "no secrets_key is configured on this worker"
                opened.notices.append("\(label) left out: \(missing)")
                continue
            }
            guard let plaintext = opener(variable.name, variable.value) else {
                opened.notices.append("\(label) left out: it could not be decrypted")
                continue
            }
            if !variable.name.isEmpty {
                opened.env.append(EnvVar(name: variable.name, value: plaintext, secure: true))
                continue
            }
            // `- secure: "…"`: the plaintext is `NAME=value` (several assignments allowed).
            let parsed = EnvAssignments.parse(plaintext)
            if parsed.vars.isEmpty { opened.notices.append("a secure env var left out: it is not NAME=value") }
            opened.env += parsed.vars.map { EnvVar(name: $0.name, value: $0.value, secure: true) }
        }
        return opened
    }

    /// At expansion: the repository settings' variables come first (as Travis's do), then the config's.
    /// A pull request from a fork gets no sealed value at all (config `secure:` or secret settings
    /// variable), only public ones, and the reason in `secretsWithheld`.
    public static func prepare(_ jobs: [JobSpec], settingsEnv: [EnvVar], origin: PullRequestOrigin?) -> [JobSpec] {
        jobs.map { job in
            var job = job
            job.env = settingsEnv + job.env
            if let notice = origin?.withheldNotice {
                job.env = job.env.filter { $0.sealed == nil }
                job.secretsWithheld = notice
            }
            return job
        }
    }
}
