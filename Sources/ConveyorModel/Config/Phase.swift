/// The build phases a job's script runs, in order (`after_success` and `after_failure` exclusive).
public enum Phase: String, Sendable, Codable, CaseIterable, CodingKeyRepresentable {
    case beforeInstall = "before_install"
    case install
    case beforeScript = "before_script"
    case script
    case afterSuccess = "after_success"
    case afterFailure = "after_failure"
    case afterScript = "after_script"

    /// A failure here errors the job and stops the script.
    public var failureErrors: Bool {
        switch self {
        case .beforeInstall, .install, .beforeScript: return true
        default: return false
        }
    }
}
