import CYaml

/// libyaml's event stream (the copy Yams builds and links as `CYaml`). Yams' own `Parser` only
/// offers a composed tree, which shares aliased nodes, hashes whole keys and throws on duplicate
/// keys; reading events lets `YAMLComposer` charge aliases by size, keep the last of duplicate keys
/// with a warning, and stop at the first event past a limit. See docs/config.md ("YAML").
final class YAMLEventReader {
    enum Event {
        case scalar(String, anchor: String?, tag: String?, plain: Bool, mark: Mark)
        case alias(String, mark: Mark)
        case sequenceStart(anchor: String?, mark: Mark)
        case mappingStart(anchor: String?, mark: Mark)
        case sequenceEnd
        case mappingEnd
        case documentStart
        case documentEnd
        case streamStart
        case streamEnd
    }

    /// 1-based, as people count.
    struct Mark: Equatable {
        var line: Int
        var column: Int
    }

    // Both live at fixed addresses for the parser's lifetime: libyaml keeps pointers to them.
    private let parser: UnsafeMutablePointer<yaml_parser_t>
    private let input: UnsafeMutableBufferPointer<UInt8>

    init(bytes: [UInt8]) {
        parser = .allocate(capacity: 1)
        input = .allocate(capacity: max(1, bytes.count))
        _ = input.initialize(from: bytes)
        yaml_parser_initialize(parser)
        yaml_parser_set_encoding(parser, YAML_UTF8_ENCODING)
        yaml_parser_set_input_string(parser, input.baseAddress, bytes.count)
    }

    deinit {
        yaml_parser_delete(parser)
        parser.deallocate()
        input.deallocate()
    }

    func next() throws(ConfigError) -> Event {
        var event = yaml_event_t()
        guard yaml_parser_parse(parser, &event) == 1 else { throw parseError() }
        defer { yaml_event_delete(&event) }
        let mark = Mark(line: event.start_mark.line + 1, column: event.start_mark.column + 1)
        switch event.type {
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            let value = String(decoding: UnsafeBufferPointer(start: scalar.value, count: scalar.length), as: UTF8.self)
            return .scalar(value, anchor: Self.text(scalar.anchor), tag: Self.text(scalar.tag),
                           plain: scalar.style == YAML_PLAIN_SCALAR_STYLE, mark: mark)
        case YAML_ALIAS_EVENT:
            return .alias(Self.text(event.data.alias.anchor) ?? "", mark: mark)
        case YAML_SEQUENCE_START_EVENT:
            return .sequenceStart(anchor: Self.text(event.data.sequence_start.anchor), mark: mark)
        case YAML_MAPPING_START_EVENT:
            return .mappingStart(anchor: Self.text(event.data.mapping_start.anchor), mark: mark)
        case YAML_SEQUENCE_END_EVENT: return .sequenceEnd
        case YAML_MAPPING_END_EVENT: return .mappingEnd
        case YAML_DOCUMENT_START_EVENT: return .documentStart
        case YAML_DOCUMENT_END_EVENT: return .documentEnd
        case YAML_STREAM_START_EVENT: return .streamStart
        default: return .streamEnd
        }
    }

    /// libyaml's problem and context, at the problem's position.
    private func parseError() -> ConfigError {
        let state = parser.pointee
        let detail = [state.problem, state.context].compactMap { $0.map { String(cString: $0) } }.filter { !$0.isEmpty }
        let text = detail.isEmpty ? "could not be parsed" : detail.joined(separator: " ")
        if state.error == YAML_READER_ERROR {
            return ConfigError("invalid YAML: \(text) at byte \(state.problem_offset)")
        }
        return ConfigError("invalid YAML: " + text, line: state.problem_mark.line + 1, column: state.problem_mark.column + 1)
    }

    private static func text(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: $0) }
    }
}
