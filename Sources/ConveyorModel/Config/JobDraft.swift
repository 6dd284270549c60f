/// A job on its way through exclude, dedupe, stages and `if:` filtering, before it is numbered.
struct JobDraft {
    var spec: JobSpec
    /// Root config with the row's fields over it: what exclude / allow_failures compare other keys against.
    var effective: [String: JSONValue]
    var ownEnv: [RawEnvEntry]
    /// The stage as written (nil: none given, so the default stage when stages are used).
    var stageName: String?
    var condition: String?

    /// What makes two jobs the same job for dedupe.
    struct Identity: Hashable {
        var spec: JobSpec
        var stageName: String?
        var condition: String?
    }

    var identity: Identity {
        Identity(spec: spec, stageName: stageName?.lowercased(), condition: condition)
    }
}
