/// Array parameters in Postgres's text form (`{1,NULL,"a \"b\""}`), for set-based statements such as
/// `unnest($1::bigint[], $2::text[])` that apply a whole batch in one round trip. Still a parameter:
/// the elements are quoted for the array parser, never spliced into SQL.
extension PostgresValue {
    public static func array<I: BinaryInteger>(_ values: [I?]) -> PostgresValue {
        .text("{" + values.map { $0.map { String($0) } ?? "NULL" }.joined(separator: ",") + "}")
    }

    public static func array<I: BinaryInteger>(_ values: [I]) -> PostgresValue {
        .text("{" + values.map { String($0) }.joined(separator: ",") + "}")
    }

    public static func array(_ values: [Bool]) -> PostgresValue {
        .text("{" + values.map { $0 ? "t" : "f" }.joined(separator: ",") + "}")
    }

    /// Text elements, each double-quoted with `\` and `"` escaped (so commas, braces, spaces and the
    /// word NULL inside a value stay data); nil is SQL NULL.
    public static func array(_ values: [String?]) -> PostgresValue {
        .text("{" + values.map { $0.map(quotedElement) ?? "NULL" }.joined(separator: ",") + "}")
    }

    private static func quotedElement(_ value: String) -> String {
        var out = "\""
        for character in value.unicodeScalars {
            if character == "\\" || character == "\"" { out.unicodeScalars.append("\\") }
            out.unicodeScalars.append(character)
        }
        return out + "\""
    }
}
