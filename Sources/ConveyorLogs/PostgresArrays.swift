import Foundation
import ConveyorPostgres

/// Postgres array values in their text form (`{1,2,NULL}`), for integer arrays only: parameters
/// stay parameters (`$1::int[]`), nothing is spliced into SQL.
enum PostgresArrays {
    static func literal<I: BinaryInteger>(_ values: [I]) -> PostgresValue {
        .text("{" + values.map { String($0) }.joined(separator: ",") + "}")
    }

    static func literal<I: BinaryInteger>(_ values: [I?]) -> PostgresValue {
        .text("{" + values.map { $0.map { String($0) } ?? "NULL" }.joined(separator: ",") + "}")
    }

    /// Parses `{1,2,3}`; NULL elements are skipped.
    static func ints(_ cell: PostgresCell) -> [Int] {
        guard let text = cell.string else { return [] }
        return text.trimmingCharacters(in: ["{", "}"]).split(separator: ",").compactMap { Int($0) }
    }
}
