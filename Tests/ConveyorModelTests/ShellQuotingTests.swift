import Foundation
import Testing
@testable import ConveyorModel

/// Bash reads back exactly what was quoted: random Unicode (combining marks, quotes, newlines…) and
/// random bytes, in batches through one bash each.
@Suite struct ShellQuotingTests {
    /// The issue's case: a quote followed by a combining mark is one `Character` but two things to bash.
    @Test func quoteWithCombiningMark() throws {
        let value = "x'\u{301}; touch /tmp/conveyor-pwned #"
        #expect(try bashReadsBack([Array(value.utf8)]) == [Array(value.utf8)])
        #expect(try ShellQuoting.singleQuoted(value) == "'x'\\''\u{301}; touch /tmp/conveyor-pwned #'")
    }

    @Test func randomUnicodeComesBackExactly() throws {
        var random = SeededRandom(seed: 0xC0FFEE)
        let pieces: [String] = ["'", "\"", "\\", "$", "`", "$(", "${", "!", "\n", "\r", "\t", " ", "\u{301}", "\u{308}",
                                "'\u{301}", "e\u{301}", "🚀", "👩‍💻", "é", "中", "\u{200B}", "\u{FEFF}", "*", "?", "[", "~", "#",
                                ";", "|", "&", "<", ">", "(", ")", "{", "}", "a", "Z", "0", "-", "\u{7F}", "\u{1B}", "\u{1}"]
        let values: [[UInt8]] = (0..<400).map { _ in
            let count = Int(random.next() % 24)
            return Array((0..<count).map { _ in pieces[Int(random.next() % UInt64(pieces.count))] }.joined().utf8)
        }
        #expect(try bashReadsBack(values) == values)
    }

    @Test func randomBytesComeBackExactly() throws {
        var random = SeededRandom(seed: 42)
        let values: [[UInt8]] = (0..<400).map { _ in
            (0..<Int(random.next() % 40)).map { _ in UInt8(1 + random.next() % 255) } // any byte but NUL
        }
        #expect(try bashReadsBack(values) == values)
    }

    /// Double quotes keep everything literal except `$NAME`/`${NAME}`.
    @Test func doubleQuotedValuesWithoutVariablesComeBackExactly() throws {
        var random = SeededRandom(seed: 7)
        // No piece starts with a letter or `_`, so no `$NAME` forms by accident.
        let pieces = ["'", "\"", "\\", "`", "$(", "$((1))", "$", "$1", "${", "!", "\n", "\u{301}", "'\u{301}", "🚀", "1", " ", "$ x", "$-"]
        let values = (0..<300).map { _ in
            (0..<Int(random.next() % 12)).map { _ in pieces[Int(random.next() % UInt64(pieces.count))] }.joined()
        }
        let script = values.map { "printf '%s\\0' " + (try! ShellQuoting.doubleQuotedExpandingVariables($0)) }.joined(separator: "\n")
        #expect(try runBash(Array(script.utf8)).split(separator: 0, omittingEmptySubsequences: false).dropLast().map(Array.init)
            == values.map { Array($0.utf8) })
        #expect(try ShellQuoting.doubleQuotedExpandingVariables("$HOME/${USER}x") == "\"$HOME/${USER}x\"")
    }

    /// No bash word can hold a NUL byte: refused, never truncated.
    @Test func nulIsRefused() {
        #expect(throws: ShellQuotingError.self) { try ShellQuoting.singleQuoted("a\u{0}b") }
        #expect(throws: ShellQuotingError.self) { try ShellQuoting.singleQuoted(bytes: [0x61, 0]) }
        #expect(throws: ShellQuotingError.self) { try ShellQuoting.doubleQuotedExpandingVariables("\u{0}") }
        let job = JobSpec(number: 1, keys: [:], env: [], phases: [.script: ["echo \u{0}"]])
        #expect(throws: ShellQuotingError.self) { try ScriptCompiler.compile(job: job, checkout: CheckoutSpec(repoURL: "u", sha: "s")) }
    }

    /// One `printf '%s\0' <quoted>` per value; the output split at the NULs.
    private func bashReadsBack(_ values: [[UInt8]]) throws -> [[UInt8]] {
        var script: [UInt8] = []
        for value in values {
            script += Array("printf '%s\\0' ".utf8) + (try ShellQuoting.singleQuoted(bytes: value)) + [UInt8(ascii: "\n")]
        }
        return try runBash(script).split(separator: 0, omittingEmptySubsequences: false).dropLast().map(Array.init)
    }

    private func runBash(_ script: [UInt8]) throws -> [UInt8] {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("quoting-\(UUID().uuidString).sh")
        try Data(script).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [file.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return Array(data)
    }
}

/// SplitMix64: reproducible random values for property tests.
struct SeededRandom {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
