import Foundation
import Testing
@testable import ConveyorModel

@Suite struct QueueRulesTests {
    private let yaml = """
        queues:
          - name: builds.osx
            os: osx
          - name: builds.docker
            services: docker
          - name: builds.jvm
            os: linux
            language: [java, Scala]
          - name: builds.arm
            arch: arm64
            dist: [jammy]
        """

    @Test func firstMatchingRuleWins() throws {
        let rules = try QueueRules.parse(yaml: yaml)
        #expect(rules.queue(for: JobSpec(language: "java", os: "osx")) == "builds.osx")
        #expect(rules.queue(for: JobSpec(language: "scala", os: "linux")) == "builds.jvm")
        #expect(rules.queue(for: JobSpec(language: "java", os: "linux", services: ["docker"])) == "builds.docker")
        #expect(rules.queue(for: JobSpec(language: "ruby", os: "linux", dist: "jammy", arch: "arm64")) == "builds.arm")
        #expect(rules.queue(for: JobSpec(language: "ruby", os: "linux", arch: "arm64")) == "default")
        #expect(rules.queue(for: JobSpec(language: "ruby")) == "default")
    }

    @Test func defaultRulesSendEverythingToDefault() {
        #expect(QueueRules.default.queue(for: JobSpec(language: "go", os: "osx")) == "default")
    }

    @Test func invalidRulesAreErrors() {
        #expect(throws: ConfigError.self) { try QueueRules.parse(yaml: "queues:\n  - os: linux") }
        #expect(throws: ConfigError.self) { try QueueRules.parse(yaml: "queues:\n  - name: x\n    color: red") }
        #expect(throws: ConfigError.self) { try QueueRules.parse(yaml: "- a") }
        #expect(throws: ConfigError.self) { try QueueRules.parse(yaml: "queues: [") }
    }

    @Test func shippedExampleParses() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../config/queues.example.yml")
        let rules = try QueueRules.parse(yaml: String(contentsOf: file, encoding: .utf8))
        #expect(rules.rules.count >= 3)
        #expect(rules.queue(for: JobSpec(os: "osx")) == "builds.osx")
    }
}
