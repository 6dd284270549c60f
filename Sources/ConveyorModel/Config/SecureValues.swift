/// Decrypts `secure:` env entries, at most once per ciphertext, or leaves them out with a warning.
/// With `keepSealed` they stay ciphertext (`EnvVar.sealed`), for the worker to open (see `SealedEnv`).
struct SecureValues {
    let decrypt: (@Sendable (String) -> String?)?
    let keepSealed: Bool
    private var cache: [String: String?] = [:]

    init(decrypt: (@Sendable (String) -> String?)?, keepSealed: Bool = false) {
        self.decrypt = decrypt
        self.keepSealed = keepSealed
    }

    mutating func resolve(_ entries: [RawEnvEntry], warnings: inout WarningList) -> [EnvVar] {
        var vars: [EnvVar] = []
        for entry in entries {
            switch entry {
            case .plain(let envVar):
                vars.append(envVar)
            case let .secure(name, ciphertext) where keepSealed:
                vars.append(EnvVar(name: name ?? "", value: ciphertext, secure: true, sealed: .repositoryKey))
            case let .secure(name, ciphertext):
                guard let plaintext = plaintext(of: ciphertext) else {
                    let label = name.map { "secure env var \($0)" } ?? "a secure env var"
                    let why = decrypt == nil ? "no decryption key is configured" : "it could not be decrypted"
                    warnings.add("\(label) left out: \(why)")
                    continue
                }
                if let name {
                    vars.append(EnvVar(name: name, value: plaintext, secure: true))
                } else {
                    let parsed = EnvAssignments.parse(plaintext)
                    if parsed.vars.isEmpty { warnings.add("a secure env var left out: it is not NAME=value") }
                    vars += parsed.vars.map { EnvVar(name: $0.name, value: $0.value, secure: true) }
                }
            }
        }
        return vars
    }

    private mutating func plaintext(of ciphertext: String) -> String? {
        guard let decrypt else { return nil }
        if let cached = cache[ciphertext] { return cached }
        let value = decrypt(ciphertext)
        cache[ciphertext] = value
        return value
    }
}
