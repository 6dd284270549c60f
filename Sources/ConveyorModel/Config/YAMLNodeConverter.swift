import Yams

/// Converts a composed Yams tree to `JSONValue`. Yams shares aliased nodes, so the tree can stand for
/// an exponential document; every produced node is charged against a budget, and nesting is bounded.
struct YAMLNodeConverter {
    var nodeBudget: Int
    let maxDepth: Int
    /// Key order of every mapping converted (see `KeyOrder`).
    var keyOrder = KeyOrder()

    mutating func convert(_ node: Node, depth: Int = 0) throws(ConfigError) -> JSONValue {
        nodeBudget -= 1
        if nodeBudget < 0 {
            throw ConfigError("config expands to too many YAML nodes (aliases expand past the maximum)",
                              line: node.mark?.line, column: node.mark?.column)
        }
        if depth > maxDepth {
            throw ConfigError("config nests deeper than the maximum of \(maxDepth) levels",
                              line: node.mark?.line, column: node.mark?.column)
        }
        switch node {
        case .scalar(let scalar):
            return Self.scalarValue(node, style: scalar.style)
        case .sequence(let sequence):
            var values: [JSONValue] = []
            values.reserveCapacity(sequence.count)
            for element in sequence { values.append(try convert(element, depth: depth + 1)) }
            return .array(values)
        case .mapping(let mapping):
            return .object(try convertMapping(mapping, depth: depth))
        case .alias(let alias):
            throw ConfigError("invalid YAML: unresolved alias \(alias.anchor.rawValue)",
                              line: alias.mark?.line, column: alias.mark?.column)
        }
    }

    /// Keys are taken as written. `<<` merge keys fill in keys the mapping doesn't set itself.
    private mutating func convertMapping(_ mapping: Node.Mapping, depth: Int) throws(ConfigError) -> [String: JSONValue] {
        var object: [String: JSONValue] = [:]
        var merged: [[String: JSONValue]] = []
        var written: [String] = []
        for (key, value) in mapping {
            guard case .scalar(let keyScalar) = key else {
                throw ConfigError("mapping keys must be plain strings", line: key.mark?.line, column: key.mark?.column)
            }
            if keyScalar.string == "<<" && keyScalar.style == .plain {
                for source in value.sequence.map(Array.init) ?? [value] {
                    guard case .object(let fields) = try convert(source, depth: depth + 1) else {
                        throw ConfigError("a << merge key needs a mapping or a list of mappings",
                                          line: source.mark?.line, column: source.mark?.column)
                    }
                    merged.append(fields)
                }
                continue
            }
            object[keyScalar.string] = try convert(value, depth: depth + 1)
            written.append(keyScalar.string)
        }
        for fields in merged {
            object.merge(fields) { explicit, _ in explicit }
            written += keyOrder.ordered(fields.keys).filter { !written.contains($0) }
        }
        keyOrder.record(written)
        return object
    }

    /// Quoted scalars are strings. Plain ones resolve as YAML 1.1 (like Travis's Ruby): null, booleans
    /// (also yes/no/on/off), integers. Other numbers keep their text, so `python: 3.10` stays "3.10".
    private static func scalarValue(_ node: Node, style: Node.Scalar.Style) -> JSONValue {
        let text = node.string ?? ""
        guard style == .plain else { return .string(text) }
        if node.null != nil { return .null }
        if let bool = node.bool { return .bool(bool) }
        if let int = node.int { return .int(int) }
        return .string(text)
    }
}
