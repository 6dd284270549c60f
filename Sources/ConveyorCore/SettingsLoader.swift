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

    /// Flat `key: value` pairs; lists become comma-separated text, nulls are skipped. Values are taken as
    /// written (the option parsers read them): Yams' default resolver would type them with a dozen
    /// `NSRegularExpression`s, which load ICU's regex engine and data into every node (about 2 MB of
    /// resident memory, bench/README.md "Results: memory").
    static func readYAML(_ path: String) throws(SettingsError) -> [(String, String)] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw SettingsError("\(path): cannot read: \(error.localizedDescription)")
        }
        let node: Yams.Node?
        do { node = try Yams.compose(yaml: text, .basic) } catch {
            throw SettingsError("\(path): invalid YAML: \(error)")
        }
        guard let node else { return [] }
        guard case .mapping(let map) = node else { throw SettingsError("\(path): expected a mapping of option: value") }
        var pairs: [(String, String)] = []
        for (keyNode, value) in map {
            guard case .scalar(let key) = keyNode else { throw SettingsError("\(path): expected option names as keys") }
            switch value {
            case .scalar(let scalar) where scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string):
                continue
            case .scalar(let scalar):
                pairs.append((key.string, scalar.string))
            case .sequence(let list):
                var items: [String] = []
                for item in list {
                    guard case .scalar(let scalar) = item else { throw SettingsError("\(path): \(key.string): expected a list of values") }
                    items.append(scalar.string)
                }
                pairs.append((key.string, items.joined(separator: ",")))
            case .mapping, .alias:
                throw SettingsError("\(path): \(key.string): expected a value or a list of values")
            }
        }
        return pairs.sorted { $0.0 < $1.0 }
    }
}
