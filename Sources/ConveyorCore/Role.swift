/// The parts a node can run (docs/architecture.md §2).
public enum Role: String, Sendable, CaseIterable, Comparable {
    case web, gatekeeper, scheduler, worker, hub, logs, reaper

    /// Parses `all` or a comma-separated list such as `worker,logs`.
    public static func parse(_ text: String) throws(SettingsError) -> Set<Role> {
        let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
        if names.isEmpty { throw SettingsError("roles: empty list; use 'all' or e.g. 'worker,logs'") }
        var roles: Set<Role> = []
        for name in names {
            if name == "all" { roles.formUnion(Role.allCases); continue }
            guard let role = Role(rawValue: name) else {
                throw SettingsError("roles: unknown role '\(name)'; known: all, \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            roles.insert(role)
        }
        return roles
    }

    public static func < (a: Role, b: Role) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

public struct SettingsError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
