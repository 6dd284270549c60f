import CPCRE2

/// Unanchored matching, as Ruby's `=~`, for conditions and branch rules, on PCRE2 with bounds: a
/// backtracking pattern (`/^(a+)+$/`) stops at the match limit with an error instead of holding a
/// thread. Ruby syntax is translated by `RubyRegexTranslation`; `^`/`$` match at line breaks as in
/// Ruby. Flags: `i` (ignore case), `m` (dot matches newline, Ruby's meaning), `x` (extended).
/// See docs/config.md ("Regular expressions").
enum RegexMatch {
    /// Backtracking steps one match may take (PCRE2's default is 10,000,000): a few milliseconds.
    static let matchLimit: UInt32 = 1_000_000
    /// Nested backtracking frames one match may hold.
    static let depthLimit: UInt32 = 10_000
    /// KiB of heap one match may use for its frames.
    static let heapLimit: UInt32 = 8_192

    /// Throws a `ConfigError` naming the problem and its position when `pattern` does not compile.
    static func validate(_ pattern: String, flags: String = "") throws(ConfigError) {
        let code = try compile(pattern, flags: flags)
        pcre2_code_free_8(code)
    }

    /// Whether `pattern` matches anywhere in `value`. Throws when the pattern is invalid or the match
    /// exceeds its limits ("regex /…/ exceeded its match limit").
    static func matches(_ value: String, pattern: String, flags: String = "") throws(ConfigError) -> Bool {
        let code = try compile(pattern, flags: flags)
        defer { pcre2_code_free_8(code) }
        let context = pcre2_match_context_create_8(nil)
        defer { pcre2_match_context_free_8(context) }
        pcre2_set_match_limit_8(context, matchLimit)
        pcre2_set_depth_limit_8(context, depthLimit)
        pcre2_set_heap_limit_8(context, heapLimit)
        let data = pcre2_match_data_create_from_pattern_8(code, nil)
        defer { pcre2_match_data_free_8(data) }
        let subject = Array(value.utf8)
        let result = subject.withUnsafeBufferPointer { buffer in
            pcre2_match_8(code, buffer.baseAddress ?? UnsafePointer(bitPattern: 1), buffer.count, 0, 0, data, context)
        }
        switch result {
        case 0...: return true
        case PCRE2_ERROR_NOMATCH: return false
        case PCRE2_ERROR_MATCHLIMIT, PCRE2_ERROR_DEPTHLIMIT, PCRE2_ERROR_HEAPLIMIT:
            throw ConfigError("regex /\(pattern)/ exceeded its match limit (too much backtracking on a value of \(subject.count) bytes)")
        default:
            throw ConfigError("regex /\(pattern)/ could not be matched: \(message(result))")
        }
    }

    private static func compile(_ pattern: String, flags: String) throws(ConfigError) -> OpaquePointer {
        var options = UInt32(PCRE2_UTF) | UInt32(PCRE2_MULTILINE)
        for flag in flags {
            switch flag {
            case "i": options |= UInt32(PCRE2_CASELESS)
            case "m": options |= UInt32(PCRE2_DOTALL)
            case "x": options |= UInt32(PCRE2_EXTENDED)
            default: throw ConfigError("invalid regular expression /\(pattern)/\(flags): unknown flag \(flag) (i, m and x are supported)")
            }
        }
        let translated = try RubyRegexTranslation(pattern)
        var errorCode: Int32 = 0
        var errorOffset = 0
        let code = translated.pcre.withUnsafeBufferPointer { buffer in
            pcre2_compile_8(buffer.baseAddress ?? UnsafePointer(bitPattern: 1), buffer.count, options, &errorCode, &errorOffset, nil)
        }
        guard let code else {
            throw ConfigError("invalid regular expression /\(pattern)/: \(message(errorCode)) at character \(translated.sourcePosition(ofByte: errorOffset))")
        }
        return code
    }

    private static func message(_ code: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        let length = pcre2_get_error_message_8(code, &buffer, buffer.count)
        return length > 0 ? String(decoding: buffer[..<Int(length)], as: UTF8.self) : "PCRE2 error \(code)"
    }
}
