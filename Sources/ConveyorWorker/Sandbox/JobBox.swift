import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One job's directory on the node: `<root>/<name>` is root-owned (mode 0711) and holds the files
/// bound over the sandbox's /etc; `<root>/<name>/home` belongs to the build uid, is the job's HOME and
/// working directory, and the only host directory the job can write. Blocking: use from `offPool`.
struct JobBox: Sendable {
    let root: String
    let name: String

    var path: String { "\(root)/\(name)" }
    var home: String { "\(path)/home" }
    var script: String { "\(home)/.conveyor-build.sh" }

    /// Makes the box; returns a note for the job log when the disk limit could not be applied.
    func create(uid: Int, script body: String, readOnly: [String], network: Bool, diskBytes: Int64?) throws -> String? {
        let manager = FileManager.default
        try manager.createDirectory(atPath: path, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o711])
        try manager.createDirectory(atPath: home, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        var note: String?
        if let diskBytes {
            do {
                try JobDisk.mount(image: "\(path)/disk.img", on: home, bytes: diskBytes, uid: uid)
            } catch {
                JobDisk.unmount(home)
                note = "conveyor: the disk limit could not be applied (\(error)); only files are capped\n"
            }
        }
        try write(body, to: script, mode: 0o700, owner: uid)
        let passwd = (try? String(contentsOfFile: "/etc/passwd", encoding: .utf8)) ?? ""
        let group = (try? String(contentsOfFile: "/etc/group", encoding: .utf8)) ?? ""
        try write(SandboxPlan.passwd(host: passwd, uid: uid, home: home), to: "\(path)/passwd", mode: 0o644, owner: nil)
        try write(SandboxPlan.group(host: group, uid: uid), to: "\(path)/group", mode: 0o644, owner: nil)
        try write(SandboxPlan.hosts, to: "\(path)/hosts", mode: 0o644, owner: nil)
        if network { try write(SandboxPlan.resolvConf, to: "\(path)/resolv.conf", mode: 0o644, owner: nil) }
        if !readOnly.isEmpty {
            // A `file://` repository belongs to another uid: git refuses it unless listed as safe.
            let safe = readOnly.flatMap { ["\tdirectory = \($0)", "\tdirectory = \($0)/.git"] }.joined(separator: "\n")
            try write("[safe]\n\(safe)\n", to: "\(home)/.gitconfig", mode: 0o644, owner: uid)
        }
        guard chown(home, uid_t(uid), gid_t(uid)) == 0 else {
            throw WorkerError("cannot give \(home) to uid \(uid): \(String(cString: strerror(errno)))")
        }
        return note
    }

    /// Sandbox path → file of this box.
    func overlays(network: Bool) -> [String: String] {
        var files = ["/etc/passwd": "\(path)/passwd", "/etc/group": "\(path)/group", "/etc/hosts": "\(path)/hosts"]
        if network { files["/etc/resolv.conf"] = "\(path)/resolv.conf" }
        return files
    }

    func remove() {
        // Root removes whatever the job made, whatever its modes; nothing of the job runs any more.
        if FileManager.default.fileExists(atPath: "\(path)/disk.img") { JobDisk.unmount(home) }
        try? FileManager.default.removeItem(atPath: path)
    }

    private func write(_ text: String, to file: String, mode: Int, owner: Int?) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        chmod(file, mode_t(mode))
        if let owner { chown(file, uid_t(owner), gid_t(owner)) }
    }
}
