import Foundation
import Yams

/// Builds `Settings` from, in increasing precedence: defaults, the YAML file, `CONVEYOR_*`
/// environment variables, and flags given as `key=value` pairs.
public enum SettingsLoader {
    public static let defaultFile = "config/conveyor.yml"

    public static func load(file: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment,
                            overrides: [String: String] = [:]) throws(SettingsError) -> Settings {
        var settings = Settings()
        let options = Dictionary(uniqueKeysWithValues: SettingOption.all.map { ($0.key, $0) })
        let path = file ?? environment["CONVEYOR_CONFIG"] ?? defaultFile
        if FileManager.default.fileExists(atPath: path) {
            for (key, value) in try readYAML(path) {
                guard let option = options[key] else {
                    throw SettingsError("\(path): unknown option '\(key)'")
                }
                try option.apply(&settings, value)
            }
        } else if file != nil {
            throw SettingsError("config file \(path) not found")
        }
        for option in SettingOption.all {
            if let value = environment[option.env] { try option.apply(&settings, value) }
        }
        for (key, value) in overrides {
            guard let option = options[key] else { throw SettingsError("unknown option '\(key)'") }
            try option.apply(&settings, value)
        }
        return settings
    }

    /// Flat `key: value` pairs; lists become comma-separated text, nulls are skipped.
    static func readYAML(_ path: String) throws(SettingsError) -> [(String, String)] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw SettingsError("\(path): cannot read: \(error.localizedDescription)")
        }
        let node: Any?
        do { node = try Yams.load(yaml: text) } catch {
            throw SettingsError("\(path): invalid YAML: \(error)")
        }
        guard let node else { return [] }
        guard let map = node as? [String: Any] else { throw SettingsError("\(path): expected a mapping of option: value") }
        return map.compactMap { key, value in
            switch value {
            case is NSNull: return nil
            case let list as [Any]: return (key, list.map { "\($0)" }.joined(separator: ","))
            default: return (key, "\(value)")
            }
        }.sorted { $0.0 < $1.0 }
    }
}
