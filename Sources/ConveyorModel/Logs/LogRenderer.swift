/// Renders a stored job log for people (`conveyor logs`): the fold and timing markers the build script
/// writes (see `ScriptPrelude`) are taken out. On a terminal a fold becomes one line with its name, its
/// first line and its duration (its content follows when a command in it failed); piped, folds are
/// printed whole. Colours are kept or stripped. Fed in chunks as a followed log arrives.
public struct LogRenderer: Sendable {
    public var collapseFolds: Bool
    public var colors: Bool
    private var pending: [UInt8] = []
    private var fold: OpenFold?
    /// The last byte written was a newline (or nothing was written yet).
    private var atLineStart = true
    /// An escape sequence cut by the chunk's end, held until it is complete (stripping needs all of it).
    private var escapeTail: [UInt8] = []

    private struct OpenFold: Sendable {
        var name: String
        var content: [UInt8] = []
        var nanoseconds: Int64 = 0
    }

    private static let prefix = Array("conveyor_".utf8)
    private static let terminator: [UInt8] = [0x0D, 0x1B, 0x5B, 0x30, 0x4B] // \r ESC [ 0 K

    public init(collapseFolds: Bool, colors: Bool) {
        self.collapseFolds = collapseFolds
        self.colors = colors
    }

    /// Renders what can be rendered of `bytes`; an incomplete marker at the end waits for the next chunk.
    public mutating func feed(_ bytes: [UInt8]) -> [UInt8] {
        pending += bytes
        var output: [UInt8] = []
        var cursor = 0
        while cursor < pending.count {
            guard let start = Self.find(Self.prefix, in: pending, from: cursor) else {
                // Keep a tail that may be the start of a marker.
                let keep = Self.partialPrefixLength(pending, from: cursor)
                emit(pending[cursor..<(pending.count - keep)], to: &output)
                cursor = pending.count - keep
                break
            }
            emit(pending[cursor..<start], to: &output)
            guard let end = Self.find(Self.terminator, in: pending, from: start) else {
                if pending.count - start > 512 { // not a marker after all
                    emit(pending[start..<(start + 1)], to: &output)
                    cursor = start + 1
                    continue
                }
                cursor = start
                break
            }
            let body = String(decoding: pending[(start + Self.prefix.count)..<end], as: UTF8.self)
            if !marker(body, output: &output) {
                emit(pending[start..<(end + Self.terminator.count)], to: &output)
            }
            cursor = end + Self.terminator.count
        }
        pending.removeFirst(min(cursor, pending.count))
        return output
    }

    /// The rest, at the end of the log (an unclosed fold is shown whole).
    public mutating func finish() -> [UInt8] {
        var output: [UInt8] = []
        let rest = pending
        pending = []
        emit(rest[...], to: &output)
        if let open = fold {
            fold = nil
            write(open.content[...], to: &output)
        }
        write([][...], to: &output, final: true)
        return output
    }

    /// Handles `fold:start:NAME`, `fold:end:NAME`, `time:start:ID`, `time:end:ID:…,duration=NS`.
    private mutating func marker(_ body: String, output: inout [UInt8]) -> Bool {
        let parts = body.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3 else { return false }
        switch (parts[0], parts[1]) {
        case ("fold", "start"):
            if collapseFolds {
                if let open = fold { write(open.content[...], to: &output) }
                fold = OpenFold(name: parts[2])
            }
        case ("fold", "end"):
            if collapseFolds, let open = fold {
                fold = nil
                summarize(open, to: &output)
            }
        case ("time", "start"):
            break
        case ("time", "end"):
            if let duration = parts[2].split(separator: "duration=").last.flatMap({ Int64($0) }) {
                fold?.nanoseconds += duration
            }
        default:
            return false
        }
        return true
    }

    /// `▸ install.1  $ npm ci  (12.34s)`, then the content when a command in the fold failed.
    private mutating func summarize(_ open: OpenFold, to output: inout [UInt8]) {
        let text = Self.stripEscapes(open.content)
        let firstLine = String(decoding: text, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
        var line = "\u{25B8} \(open.name)"
        if !firstLine.isEmpty { line += "  " + firstLine.trimmingSpaces() }
        if open.nanoseconds > 0 { line += "  (\(Self.seconds(open.nanoseconds)))" }
        if !atLineStart { write([0x0A][...], to: &output) }
        let colored = colors ? "\u{1B}[90m" + line + "\u{1B}[0m\n" : line + "\n"
        write(Array(colored.utf8)[...], to: &output)
        if String(decoding: text, as: UTF8.self).contains("failed and exited with") {
            write(open.content[...], to: &output)
            if !atLineStart { write([0x0A][...], to: &output) }
        }
    }

    private mutating func emit(_ bytes: ArraySlice<UInt8>, to output: inout [UInt8]) {
        guard !bytes.isEmpty else { return }
        if fold != nil {
            fold!.content += bytes
        } else {
            write(bytes, to: &output)
        }
    }

    private mutating func write(_ bytes: ArraySlice<UInt8>, to output: inout [UInt8], final: Bool = false) {
        var text = escapeTail + bytes
        escapeTail = []
        if !colors && !final, let cut = Self.incompleteEscapeStart(text) {
            escapeTail = Array(text[cut...])
            text.removeSubrange(cut...)
        }
        let shown = colors ? text : Self.stripEscapes(text)
        guard let last = shown.last else { return }
        output += shown
        atLineStart = last == 0x0A
    }

    /// Where an escape sequence that the bytes end inside of starts.
    static func incompleteEscapeStart(_ bytes: [UInt8]) -> Int? {
        guard let escape = bytes.lastIndex(of: 0x1B) else { return nil }
        var index = escape + 1
        guard index < bytes.count else { return escape }
        guard bytes[index] == 0x5B else { return nil }
        index += 1
        while index < bytes.count {
            if (0x40...0x7E).contains(bytes[index]) { return nil }
            index += 1
        }
        return escape
    }

    /// Removes ANSI CSI sequences (`ESC [ … final`), the colours and line clears.
    static func stripEscapes(_ bytes: [UInt8]) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == 0x1B, index + 1 < bytes.count, bytes[index + 1] == 0x5B {
                var end = index + 2
                while end < bytes.count, !(0x40...0x7E).contains(bytes[end]) { end += 1 }
                index = end + 1
                continue
            }
            result.append(bytes[index])
            index += 1
        }
        return result
    }

    static func seconds(_ nanoseconds: Int64) -> String {
        let hundredths = (nanoseconds + 5_000_000) / 10_000_000
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)s"
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard needle.count <= haystack.count - start else { return nil }
        var index = start
        while index + needle.count <= haystack.count {
            if haystack[index] == needle[0], haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }

    /// How many bytes at the end of `bytes` could begin `conveyor_`.
    private static func partialPrefixLength(_ bytes: [UInt8], from start: Int) -> Int {
        let available = bytes.count - start
        for length in stride(from: min(prefix.count - 1, available), through: 1, by: -1)
        where bytes[(bytes.count - length)...].elementsEqual(prefix[..<length]) {
            return length
        }
        return 0
    }
}

private extension String {
    func trimmingSpaces() -> String {
        var text = Substring(self)
        while text.first?.isWhitespace == true { text.removeFirst() }
        while text.last?.isWhitespace == true { text.removeLast() }
        return String(text)
    }
}
