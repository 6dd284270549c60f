import Foundation

/// Why a config (or a condition, or queue rules) was rejected, in words a person can act on.
public struct ConfigError: Error, Sendable, CustomStringConvertible, Equatable {
    public var message: String
    public var line: Int?
    public var column: Int?

    public init(_ message: String, line: Int? = nil, column: Int? = nil) {
        self.message = message
        self.line = line
        self.column = column
    }

    /// e.g. "invalid YAML at line 3, column 5: mapping values are not allowed in this context"
    public var description: String {
        switch (line, column) {
        case let (line?, column?): return insertingPosition("at line \(line), column \(column)")
        case let (line?, nil): return insertingPosition("at line \(line)")
        default: return message
        }
    }

    /// Puts the position after the message's lead ("invalid YAML") when it has one, else after it all.
    private func insertingPosition(_ position: String) -> String {
        if let colon = message.range(of: ": ") {
            return message[..<colon.lowerBound] + " " + position + message[colon.lowerBound...]
        }
        return message + " " + position
    }
}
