import ArgumentParser
import ConveyorCore
import ConveyorModel
import ConveyorSecrets
import Foundation
import Logging

/// `conveyor encrypt NAME=VALUE --repo owner/name [--add env.global]`: a `secure:` value for the
/// repository, encrypted locally against the public key its API serves (as `travis encrypt` does).
struct EncryptCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "encrypt", abstract: "Encrypt a value for a repository's config (a secure: value).")

    @Argument(help: "The value, usually NAME=value (read from stdin when left out, so it stays out of the shell history).")
    var value: String?
    @Option(help: "Repository owner/name.") var repo: String
    @Option(help: "Also write it into the config at this key path, e.g. env.global.") var add: String?
    @Option(help: "The config file --add writes (default: .conveyor.yml, else .travis.yml).") var file: String?
    @OptionGroup var api: APIOptions

    func run() async throws {
        var plaintext = value ?? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        if value == nil, plaintext.hasSuffix("\n") { plaintext.removeLast() }
        guard !plaintext.isEmpty else { throw ValidationError("nothing to encrypt: give NAME=value or pipe it on stdin") }
        let key = try await api.client().call("GET", "/api/v1/repos/\(repo)/key")
        guard let pem = key["public_key"]?.stringValue else { throw CLIError("the API answered without a public_key") }
        let ciphertext = try SecureValueCipher.encrypt(plaintext, publicKeyPEM: pem)
        guard let add else {
            print("secure: \"\(ciphertext)\"")
            return
        }
        let path = file ?? ConfigFiles.existing() ?? ".conveyor.yml"
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        do {
            try SecureValueInsertion.add(ciphertext: ciphertext, at: add, to: text).write(toFile: path, atomically: true, encoding: .utf8)
        } catch let error as ConfigError {
            throw CLIError("\(path): \(error.description)")
        }
        FileHandle.standardError.write(Data("added a secure value under \(add) in \(path)\n".utf8))
    }
}

enum ConfigFiles {
    static func existing() -> String? {
        [".conveyor.yml", ".travis.yml"].first { FileManager.default.fileExists(atPath: $0) }
    }
}

/// Cluster key chores, run where the node's settings are (they reach PostgreSQL directly).
struct SecretsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "secrets", abstract: "Manage the cluster key (secrets_key).",
                                                    subcommands: [GenerateKey.self, RotateKey.self])

    struct GenerateKey: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "generate-key", abstract: "Print a new random secrets_key (base64 of 32 bytes).")
        func run() { print(ClusterKey.generate()) }
    }

    struct RotateKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-key",
            abstract: "Re-seal every stored secret under the current secrets_key (the previous one in secrets_key_previous).",
            discussion: "See docs/security.md for the whole procedure.")
        @OptionGroup var options: ConfigOptions

        func run() async throws {
            let settings = try options.load()
            let keyring: Keyring
            do { keyring = try Keyring.from(settings) } catch { throw CLIError(error.description) }
            let context = try NodeContext.make(settings: settings, logger: Logger(label: "conveyor.secrets"))
            do {
                let report = try await KeyRotation(postgres: context.postgres, keyring: keyring).run()
                print("re-sealed under key \(keyring.current?.id ?? "?"): \(report.privateKeys) private key(s), \(report.envVars) env var(s); \(report.alreadyCurrent) already current")
            } catch let error as SecretsError {
                await context.close()
                throw CLIError(error.description)
            }
            await context.close()
        }
    }
}
