import Foundation
import ConveyorPostgres

/// Reading Postgres integer arrays in their text form (`{1,2,NULL}`). Writing them is
/// `PostgresValue.array` (a parameter, never spliced into SQL).
enum PostgresArrays {
    /// Parses `{1,2,3}`; NULL elements are skipped.
    static func ints(_ cell: PostgresCell) -> [Int] {
        guard let text = cell.string else { return [] }
        return text.trimmingCharacters(in: ["{", "}"]).split(separator: ",").compactMap { Int($0) }
    }
}
