import ConveyorCore
import Foundation
import Testing

@Suite struct SettingsTests {
    @Test func defaultsFollowTheDesign() throws {
        let s = try SettingsLoader.load(file: nil, environment: ["CONVEYOR_CONFIG": "/nonexistent.yml"])
        #expect(s.defaultOwnerLimit == 5)
        #expect(s.leaseSeconds == 30)
        #expect(s.maxAttempts == 3)
        #expect(s.maxLogBytes == 4 * 1024 * 1024)
        #expect(s.keyPrefix == "cv")
        #expect(s.roles == Set(Role.allCases))
    }

    @Test func environmentOverridesFileAndFlagsOverrideEnvironment() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let file = dir.appendingPathComponent("c.yml").path
        try "worker_slots: 3\nkey_prefix: file\nworker_queues: [ruby, go]\n".write(toFile: file, atomically: true, encoding: .utf8)
        let s = try SettingsLoader.load(file: file, environment: ["CONVEYOR_KEY_PREFIX": "env", "CONVEYOR_ROLES": "worker,logs"],
                                        overrides: ["worker_slots": "7"])
        #expect(s.workerSlots == 7)
        #expect(s.keyPrefix == "env")
        #expect(s.workerQueues == ["ruby", "go"])
        #expect(s.roles == [.worker, .logs])
    }

    /// YAML values reach the option parsers as written; plain nulls are skipped, nested maps are errors.
    @Test func yamlValuesAreTakenAsWritten() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let file = dir.appendingPathComponent("c.yml").path
        try "worker_slots: 4\ninsecure_no_auth: yes\nkey_prefix: \"null\"\nworker_queues:\n  - ruby\n  - go\napi_token: ~\nnode_id:\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let s = try SettingsLoader.load(file: file, environment: [:])
        #expect(s.workerSlots == 4)
        #expect(s.insecureNoAuth)
        #expect(s.keyPrefix == "null")
        #expect(s.workerQueues == ["ruby", "go"])
        #expect(s.apiToken == Settings().apiToken)
        try "worker_slots:\n  a: 1\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(throws: SettingsError.self) { try SettingsLoader.load(file: file, environment: [:]) }
    }

    @Test func badValuesSayWhatIsWrong() {
        #expect(throws: SettingsError.self) { try SettingsLoader.load(environment: ["CONVEYOR_WORKER_SLOTS": "many"]) }
        #expect(throws: SettingsError.self) { try SettingsLoader.load(environment: ["CONVEYOR_ROLES": "worker,chef"]) }
        do {
            _ = try SettingsLoader.load(environment: ["CONVEYOR_EXECUTOR": "docker"])
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("executor"))
        }
    }

    /// config/conveyor.yml documents every option, so operators never miss one.
    @Test func shippedConfigDocumentsEveryOption() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("config/conveyor.yml"), encoding: .utf8)
        for option in SettingOption.all {
            #expect(text.contains("# \(option.key):"), "config/conveyor.yml lacks \(option.key)")
            #expect(text.contains(option.env), "config/conveyor.yml lacks \(option.env)")
        }
    }

    @Test func keysCarryTheOwnerInAHashTag() {
        let keys = Keys(prefix: "cv")
        #expect(keys.waiting("octo") == "cv:owner:{octo}:waiting")
        #expect(keys.running("octo") == "cv:owner:{octo}:running")
        #expect(keys.queue("ruby") == "cv:queue:ruby")
        #expect(keys.dead(keys.state) == "cv:dead:state")
    }
}
