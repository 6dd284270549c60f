import ConveyorNode
import Foundation
import Testing

/// Every metric a node can emit has one meaning, a `# HELP` line and a row in docs/metrics.md.
@Suite struct MetricHelpTests {
    /// The package root, found from this file (Tests/ConveyorIntegrationTests/…).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Metric names created in the sources (`Counter(label: "conveyor_…"`, `Gauge(label:`, `Timer(label:` …).
    static func namesInSources() throws -> Set<String> {
        let sources = root.appendingPathComponent("Sources")
        let pattern = try NSRegularExpression(pattern: #"label: "(conveyor_[a-z_]+)""#)
        var names: Set<String> = []
        let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)
        while let file = files?.nextObject() as? URL {
            guard file.pathExtension == "swift", file.lastPathComponent != "MetricHelp.swift" else { continue }
            let text = try String(contentsOf: file, encoding: .utf8)
            for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                names.insert(String(text[Range(match.range(at: 1), in: text)!]))
            }
        }
        return names
    }

    static func namesInDocs() throws -> Set<String> {
        let text = try String(contentsOf: root.appendingPathComponent("docs/metrics.md"), encoding: .utf8)
        let pattern = try NSRegularExpression(pattern: #"(?m)^\| `(conveyor_[a-z_]+)`"#)
        return Set(pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)).map {
            String(text[Range($0.range(at: 1), in: text)!])
        })
    }

    @Test func everyMetricInTheSourcesHasHelpAndADocsRow() throws {
        let sources = try Self.namesInSources()
        #expect(sources.count > 30, "the scan found the metric labels")
        #expect(sources.subtracting(MetricHelp.text.keys).sorted() == [], "metrics without help text")
        #expect(sources.subtracting(try Self.namesInDocs()).sorted() == [], "metrics missing from docs/metrics.md")
    }

    @Test func helpTableAndDocsListTheSameMetrics() throws {
        #expect(Set(MetricHelp.text.keys) == (try Self.namesInDocs()))
    }

    @Test func annotateAddsHelpBeforeType() {
        let text = "# TYPE conveyor_jobs gauge\nconveyor_jobs{state=\"queued\"} 3\n# TYPE other_metric counter\nother_metric 1\n"
        let annotated = MetricHelp.annotate(text)
        #expect(annotated.hasPrefix("# HELP conveyor_jobs jobs in each non-final state right now, from Postgres\n# TYPE conveyor_jobs gauge\n"))
        #expect(annotated.contains("\n# TYPE other_metric counter\nother_metric 1\n"))
        #expect(!annotated.contains("# HELP other_metric"))
    }
}
