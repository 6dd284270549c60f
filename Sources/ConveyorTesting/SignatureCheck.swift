import Foundation

/// `openssl dgst -sha1 -verify`, as a receiver checks a Travis-style `Signature` header
/// (docs/notifications.md): true when openssl says "Verified OK" for `payload` (the decoded form
/// value), the base64 `signature` and the PEM public key.
public func opensslVerifiesTravisSignature(payload: String, signature: String, publicKeyPEM: String) async throws -> Bool {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cv-signature-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let key = directory.appendingPathComponent("key.pem"), body = directory.appendingPathComponent("payload")
    let raw = directory.appendingPathComponent("signature"), log = directory.appendingPathComponent("openssl.log")
    try publicKeyPEM.write(to: key, atomically: true, encoding: .utf8)
    try payload.write(to: body, atomically: true, encoding: .utf8)
    try (Data(base64Encoded: signature) ?? Data()).write(to: raw)
    let child = try ChildProcess.spawn("/usr/bin/openssl", ["dgst", "-sha1", "-verify", key.path, "-signature", raw.path, body.path], log: log.path)
    let status = await child.wait()
    return status == 0 && ((try? String(contentsOf: log, encoding: .utf8)) ?? "").contains("Verified OK")
}
