/// A secrets operation that failed, with a message naming what was wrong (never a secret value).
public struct SecretsError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
