import ConveyorModel
import ConveyorPostgres
import Foundation

/// Environment variables of the repository settings (`repository_env_vars`). A secret one is sealed
/// under the cluster key before it is written and is never read back in plain text here: builds carry
/// it sealed (`EnvVar.sealed = .clusterKey`) and only the worker opens it (see docs/security.md).
public struct EnvVarStore: Sendable {
    let postgres: PostgresClient
    let keyring: Keyring

    public init(postgres: PostgresClient, keyring: Keyring) {
        self.postgres = postgres
        self.keyring = keyring
    }

    /// A variable as the API shows it: the value only when public.
    public struct Listed: Sendable, Codable, Equatable {
        public var id: Int64
        public var name: String
        public var value: String?
        public var `public`: Bool
        public var branch: String?
    }

    public static func validate(name: String) throws(SecretsError) {
        guard name.range(of: "^[A-Za-z_][A-Za-z0-9_]*$", options: .regularExpression) != nil else {
            throw SecretsError("env var name '\(name)' is not a shell variable name (letters, digits, _; not starting with a digit)")
        }
    }

    public func list(repository: Int64) async throws -> [Listed] {
        try await postgres.query("""
            SELECT id, name, value, public, branch FROM repository_env_vars WHERE repository_id = $1 ORDER BY name, branch NULLS FIRST, id
            """, [.int(repository)]).rows.map { row in
            let isPublic: Bool = try row.decode("public")
            return Listed(id: try row.decode("id"), name: try row.decode("name"), value: isPublic ? row["value"].string : nil,
                          public: isPublic, branch: row["branch"].string)
        }
    }

    /// Creates or replaces the variable `name` (for `branch`, or every branch).
    @discardableResult
    public func set(repository: Int64, name: String, value: String, isPublic: Bool, branch: String?) async throws -> Listed {
        try Self.validate(name: name)
        let branch = branch?.isEmpty == true ? nil : branch
        let stored: String
        var keyID: String?
        if isPublic {
            stored = value
        } else {
            let sealed = try keyring.seal(Data(value.utf8), purpose: SealPurpose.envVar(repository: repository, name: name))
            stored = sealed.sealed
            keyID = sealed.keyID
        }
        let row = try await postgres.query("""
            INSERT INTO repository_env_vars (repository_id, name, value, public, branch, key_id) VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (repository_id, name, coalesce(branch, '')) DO UPDATE
                SET value = EXCLUDED.value, public = EXCLUDED.public, key_id = EXCLUDED.key_id, updated_at = now()
            RETURNING id
            """, [.int(repository), .text(name), .text(stored), .bool(isPublic), .optional(branch), .optional(keyID)]).first
        return Listed(id: try row?.decode("id") ?? 0, name: name, value: isPublic ? value : nil, public: isPublic, branch: branch)
    }

    /// Changes `public` or `branch` of a variable, and its value when one is given. A variable made
    /// secret without a new value is sealed as it is; one made public needs its value again (a sealed
    /// value is never opened to be shown).
    public func update(repository: Int64, id: Int64, value: String?, isPublic: Bool?, branch: String??) async throws -> Listed? {
        guard let row = try await postgres.query("SELECT name, value, public, branch FROM repository_env_vars WHERE repository_id = $1 AND id = $2",
                                                 [.int(repository), .int(id)]).first else { return nil }
        let name: String = try row.decode("name")
        let wasPublic: Bool = try row.decode("public")
        let nowPublic = isPublic ?? wasPublic
        let newBranch = branch ?? row["branch"].string
        if nowPublic && !wasPublic && value == nil {
            throw SecretsError("a secret variable is made public only with its value given again")
        }
        let plain = value ?? (wasPublic ? row["value"].string ?? "" : nil)
        if let plain {
            try await postgres.query("DELETE FROM repository_env_vars WHERE repository_id = $1 AND id = $2", [.int(repository), .int(id)])
            return try await set(repository: repository, name: name, value: plain, isPublic: nowPublic, branch: newBranch)
        }
        // Still secret, value unchanged: only the branch moves.
        try await postgres.query("UPDATE repository_env_vars SET branch = $3, updated_at = now() WHERE repository_id = $1 AND id = $2",
                                 [.int(repository), .int(id), .optional(newBranch?.isEmpty == true ? nil : newBranch)])
        return Listed(id: id, name: name, value: nil, public: false, branch: newBranch)
    }

    /// Deletes by id, or by name (and branch). Returns how many were deleted.
    public func delete(repository: Int64, id: Int64) async throws -> Int {
        try await postgres.query("DELETE FROM repository_env_vars WHERE repository_id = $1 AND id = $2 RETURNING id",
                                 [.int(repository), .int(id)]).rows.count
    }

    public func delete(repository: Int64, name: String, branch: String?) async throws -> Int {
        try await postgres.query("""
            DELETE FROM repository_env_vars WHERE repository_id = $1 AND name = $2 AND coalesce(branch, '') = coalesce($3, '') RETURNING id
            """, [.int(repository), .text(name), .optional(branch)]).rows.count
    }

    /// The variables a build of `branch` gets, in name order, a branch's own one replacing the
    /// every-branch one of the same name. Secret ones stay sealed.
    public func forBuild(repository: Int64, branch: String) async throws -> [EnvVar] {
        var byName: [String: (branchSpecific: Bool, variable: EnvVar)] = [:]
        for row in try await postgres.query("""
            SELECT name, value, public, branch FROM repository_env_vars
            WHERE repository_id = $1 AND (branch IS NULL OR branch = $2) ORDER BY name
            """, [.int(repository), .text(branch)]).rows {
            let name: String = try row.decode("name")
            let isPublic: Bool = try row.decode("public")
            let specific = row["branch"].string != nil
            if let existing = byName[name], existing.branchSpecific && !specific { continue }
            let value: String = try row.decode("value")
            // Public settings values are taken literally (no `$VAR` expansion), as Travis quotes them.
            let variable = isPublic ? EnvVar(name: name, value: value) : EnvVar(name: name, value: value, secure: true, sealed: .clusterKey)
            byName[name] = (specific, variable)
        }
        return byName.keys.sorted().compactMap { byName[$0]?.variable }
    }
}
