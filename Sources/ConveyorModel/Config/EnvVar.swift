/// One environment variable of a job.
public struct EnvVar: Sendable, Codable, Hashable {
    public var name: String
    public var value: String
    /// Decrypted from a `secure:` value: masked in logs, shown as `[secure]`.
    public var secure: Bool
    /// The value may reference other variables (`$HOME/bin:$PATH`), as in Travis: it was written bare or
    /// double-quoted in the config. Command substitution is never performed either way.
    public var expandsVariables: Bool

    public init(name: String, value: String, secure: Bool = false, expandsVariables: Bool = false) {
        self.name = name
        self.value = value
        self.secure = secure
        self.expandsVariables = expandsVariables
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        value = try container.decode(String.self, forKey: .value)
        secure = try container.decodeIfPresent(Bool.self, forKey: .secure) ?? false
        expandsVariables = try container.decodeIfPresent(Bool.self, forKey: .expandsVariables) ?? false
    }

    /// `NAME=value`, or `NAME=[secure]` for secure ones: how `config expand` and logs show it.
    public var displayText: String {
        "\(name)=\(secure ? "[secure]" : value)"
    }
}
