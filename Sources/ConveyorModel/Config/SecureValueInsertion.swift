import Yams

/// `conveyor encrypt … --add env.global`: appends `- secure: "…"` to the list at a dotted path of a
/// config, as `travis encrypt --add` does. The config is re-serialized (its comments are not kept);
/// keys keep their order.
public enum SecureValueInsertion {
    public static func add(ciphertext: String, at path: String, to yaml: String) throws(ConfigError) -> String {
        let keys = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !keys.isEmpty, keys.allSatisfy({ !$0.isEmpty }) else { throw ConfigError("--add expects a dotted key path such as env.global, got '\(path)'") }
        let root: Node
        do {
            root = try Yams.compose(yaml: yaml) ?? Node.mapping(Node.Mapping([]))
        } catch {
            throw ConfigError("the config is not valid YAML: \(error)")
        }
        guard case .mapping = root else { throw ConfigError("the config must be a mapping at the top level") }
        let entry = Node.mapping(Node.Mapping([(Node("secure"), Node(ciphertext, Tag(.str), .doubleQuoted))]))
        let updated = try appending(entry, along: keys[...], in: root, path: path)
        do {
            return try Yams.serialize(node: updated)
        } catch {
            throw ConfigError("the config could not be written back: \(error)")
        }
    }

    private static func appending(_ entry: Node, along keys: ArraySlice<String>, in node: Node, path: String) throws(ConfigError) -> Node {
        guard let key = keys.first else {
            switch node {
            case .sequence(var list):
                list.append(entry)
                return .sequence(list)
            case .scalar:
                return .sequence(Node.Sequence([node, entry]))
            default:
                throw ConfigError("\(path) is a mapping; add `- secure: \"…\"` to a list by hand")
            }
        }
        var mapping: Node.Mapping
        switch node {
        case .mapping(let existing):
            mapping = existing
        case .sequence, .scalar:
            // `env: [A=1, B=2]` is shorthand for `env: {jobs: [...]}`: keep it under `jobs`.
            guard key != "jobs" else { throw ConfigError("cannot add under \(path)") }
            mapping = Node.Mapping([(Node("jobs"), node)])
        default:
            throw ConfigError("cannot add under \(path)")
        }
        let child = mapping[key] ?? (keys.count == 1 ? .sequence(Node.Sequence([])) : .mapping(Node.Mapping([])))
        mapping[key] = try appending(entry, along: keys.dropFirst(), in: child, path: path)
        return .mapping(mapping)
    }
}
