import Yams

/// Builds a `JSONValue` from libyaml's events, within `ConfigLimits` (docs/config.md, "YAML"):
/// - every node is charged its size in bytes (a scalar its UTF-8 length plus one, a collection one
///   plus its contents) and an alias is charged the full size of what it names, so an alias bomb is
///   refused when its *expanded* size passes `maxExpandedBytes`, while the aliased values themselves
///   are shared (copy-on-write), never copied;
/// - nesting deeper than `maxDepth` stops at the first event past it;
/// - a duplicate key keeps the last value, with a warning naming the key and its line (travis-yml);
/// - `<<` merge keys follow YAML 1.1: keys the mapping sets itself win; within a list of mappings
///   the earlier one wins; of repeated `<<` keys the later one wins (each merges in turn, like Ruby).
struct YAMLComposer {
    private struct Anchored {
        var value: JSONValue
        var size: Int
        /// The text of an anchored scalar, so an alias of it can be a mapping key.
        var keyText: String?
    }

    private let reader: YAMLEventReader
    private let limits: ConfigLimits
    private var anchors: [String: Anchored] = [:]
    private var expandedBytes = 0
    private(set) var warnings: [String] = []
    /// Key order of every mapping composed (see `KeyOrder`).
    private(set) var keyOrder = KeyOrder()

    init(bytes: [UInt8], limits: ConfigLimits) {
        reader = YAMLEventReader(bytes: bytes)
        self.limits = limits
    }

    /// The single document (`.null` for an empty stream).
    mutating func compose() throws(ConfigError) -> JSONValue {
        guard case .streamStart = try reader.next() else { throw ConfigError("invalid YAML: no stream start") }
        guard case .documentStart = try reader.next() else { return .null }
        let root = try node(try reader.next(), depth: 0).value
        _ = try reader.next() // document end
        if case .documentStart = try reader.next() {
            throw ConfigError("invalid YAML: expected a single document, but found another")
        }
        return root
    }

    /// The node that starts with `event`, and its expanded size.
    private mutating func node(_ event: YAMLEventReader.Event, depth: Int) throws(ConfigError) -> (value: JSONValue, size: Int) {
        switch event {
        case let .scalar(text, anchor, tag, plain, mark):
            try checkDepth(depth, mark)
            try checkNoNUL(text, mark)
            let value = Self.scalarValue(text, tag: tag, plain: plain)
            try charge(text.utf8.count + 1, mark)
            if let anchor { anchors[anchor] = Anchored(value: value, size: text.utf8.count + 1, keyText: text) }
            return (value, text.utf8.count + 1)
        case let .alias(name, mark):
            guard let anchored = anchors[name] else {
                throw ConfigError("invalid YAML: alias *\(name) names no anchor before it", line: mark.line, column: mark.column)
            }
            try checkDepth(depth, mark)
            try charge(anchored.size, mark)
            return (anchored.value, anchored.size)
        case let .sequenceStart(anchor, mark):
            try checkDepth(depth, mark)
            try charge(1, mark)
            var values: [JSONValue] = []
            var size = 1
            while true {
                let next = try reader.next()
                if case .sequenceEnd = next { break }
                let element = try node(next, depth: depth + 1)
                values.append(element.value)
                size += element.size
            }
            if let anchor { anchors[anchor] = Anchored(value: .array(values), size: size) }
            return (.array(values), size)
        case let .mappingStart(anchor, mark):
            try checkDepth(depth, mark)
            try charge(1, mark)
            let (object, size) = try mapping(depth: depth)
            if let anchor { anchors[anchor] = Anchored(value: .object(object), size: size) }
            return (.object(object), size)
        default:
            throw ConfigError("invalid YAML: unexpected event \(event)")
        }
    }

    private mutating func mapping(depth: Int) throws(ConfigError) -> (object: [String: JSONValue], size: Int) {
        var object: [String: JSONValue] = [:]
        var keyLines: [String: Int] = [:]
        var merges: [[[String: JSONValue]]] = []
        var written: [String] = []
        var size = 1
        while true {
            let keyEvent = try reader.next()
            if case .mappingEnd = keyEvent { break }
            let (key, isMerge, line) = try mappingKey(keyEvent)
            let value = try node(try reader.next(), depth: depth + 1)
            size += key.utf8.count + 1 + value.size
            if isMerge {
                merges.append(try mergeSources(value.value, line: line))
                continue
            }
            if keyLines[key] != nil {
                warnings.append("duplicate key \(key) at line \(line): the last value is used")
            } else {
                written.append(key)
            }
            keyLines[key] = line
            object[key] = value.value
        }
        // Later `<<` keys win over earlier ones; within one, earlier mappings win; the mapping's own keys win over all.
        for sources in merges.reversed() {
            for source in sources {
                object.merge(source) { kept, _ in kept }
                written += keyOrder.ordered(source.keys).filter { !written.contains($0) }
            }
        }
        keyOrder.record(written)
        return (object, size)
    }

    /// A key's text: a scalar (any style) or an alias of one. `<<` (plain) is a merge key.
    private mutating func mappingKey(_ event: YAMLEventReader.Event) throws(ConfigError) -> (String, Bool, Int) {
        switch event {
        case let .scalar(text, anchor, _, plain, mark):
            try checkNoNUL(text, mark)
            try charge(text.utf8.count + 1, mark)
            if let anchor { anchors[anchor] = Anchored(value: .string(text), size: text.utf8.count + 1, keyText: text) }
            return (text, plain && text == "<<", mark.line)
        case let .alias(name, mark):
            guard let anchored = anchors[name] else {
                throw ConfigError("invalid YAML: alias *\(name) names no anchor before it", line: mark.line, column: mark.column)
            }
            guard let text = anchored.keyText else {
                throw ConfigError("mapping keys must be plain strings", line: mark.line, column: mark.column)
            }
            try charge(anchored.size, mark)
            return (text, false, mark.line)
        case let .sequenceStart(_, mark), let .mappingStart(_, mark):
            throw ConfigError("mapping keys must be plain strings", line: mark.line, column: mark.column)
        default:
            throw ConfigError("invalid YAML: unexpected event \(event) as a mapping key")
        }
    }

    /// A `<<` value: a mapping, or a list of mappings (aliases or written out).
    private func mergeSources(_ value: JSONValue, line: Int) throws(ConfigError) -> [[String: JSONValue]] {
        let sources: [JSONValue] = if case .array(let list) = value { list } else { [value] }
        var objects: [[String: JSONValue]] = []
        for source in sources {
            guard case .object(let fields) = source else {
                throw ConfigError("a << merge key needs a mapping or a list of mappings", line: line)
            }
            objects.append(fields)
        }
        return objects
    }

    private mutating func charge(_ bytes: Int, _ mark: YAMLEventReader.Mark) throws(ConfigError) {
        expandedBytes += bytes
        if expandedBytes > limits.maxExpandedBytes {
            throw ConfigError("config expands to more than the maximum of \(limits.maxExpandedBytes) bytes with its aliases expanded",
                              line: mark.line, column: mark.column)
        }
    }

    /// A `"\0"` escape: no shell word, environment variable or PostgreSQL text can carry it.
    private func checkNoNUL(_ text: String, _ mark: YAMLEventReader.Mark) throws(ConfigError) {
        if text.utf8.contains(0) {
            throw ConfigError("a value contains a NUL character (\\0), which commands and variables cannot carry",
                              line: mark.line, column: mark.column)
        }
    }

    private func checkDepth(_ depth: Int, _ mark: YAMLEventReader.Mark) throws(ConfigError) {
        if depth > limits.maxDepth {
            throw ConfigError("config nests deeper than the maximum of \(limits.maxDepth) levels", line: mark.line, column: mark.column)
        }
    }

    /// Quoted scalars are strings. Plain ones resolve as YAML 1.1 (like Travis's Ruby), with Yams'
    /// resolver: null, booleans (also yes/no/on/off), integers. Other numbers keep their text, so
    /// `python: 3.10` stays "3.10".
    private static func scalarValue(_ text: String, tag: String?, plain: Bool) -> JSONValue {
        guard plain else { return .string(text) }
        let node = Node.scalar(Node.Scalar(text, Tag(tag.map(Tag.Name.init(rawValue:)) ?? .implicit), .plain))
        if node.null != nil { return .null }
        if let bool = node.bool { return .bool(bool) }
        if let int = node.int { return .int(int) }
        return .string(text)
    }
}
