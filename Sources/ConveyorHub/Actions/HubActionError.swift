/// A control action that could not be done, e.g. an unknown job or build (the API answers 404).
public struct HubActionError: Error, Sendable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        let raw: String
        public static let notFound = Code(raw: "not found")
        public var description: String { raw }
    }

    public var code: Code
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    static func jobNotFound(_ id: Int64) -> HubActionError { HubActionError(code: .notFound, message: "job \(id) not found") }
    static func buildNotFound(_ id: Int64) -> HubActionError { HubActionError(code: .notFound, message: "build \(id) not found") }

    public var description: String { message }
}
