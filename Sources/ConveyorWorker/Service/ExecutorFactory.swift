import ConveyorCore
import ConveyorSSH

/// Builds the executor the settings name.
enum ExecutorFactory {
    static func make(_ settings: Settings) throws -> any Executor {
        switch settings.executor {
        case "local":
            let kind: Sandbox.Kind = settings.sandbox == "none" ? .none : .bubblewrap(network: settings.sandboxNetwork)
            return LocalExecutor(root: settings.workDirectory, sandbox: Sandbox(kind: kind, uidBase: settings.sandboxUIDBase, uidCount: settings.sandboxUIDCount,
                                                                                denyNetworks: settings.sandboxDenyNetworks, nodeID: settings.nodeID))
        case "noop":
            return NoopExecutor(sleepMilliseconds: settings.noopExecutorSleepMilliseconds)
        case "ssh":
            guard let host = settings.sshHost else { throw WorkerError("executor ssh needs ssh_host") }
            return SSHExecutor(target: try target(settings, host: host), buildUser: settings.sshBuildUser)
        case "libvirt":
            guard !settings.libvirtDomains.isEmpty else { throw WorkerError("executor libvirt needs libvirt_domains, one per slot") }
            guard settings.libvirtDomains.count >= settings.workerSlots else {
                throw WorkerError("executor libvirt: \(settings.libvirtDomains.count) domains for \(settings.workerSlots) slots; list one domain per slot")
            }
            _ = try target(settings, host: "check")
            return LibvirtExecutor(uri: settings.libvirtURI, domains: settings.libvirtDomains, snapshot: settings.libvirtSnapshot,
                                   target: { domain in (try? target(settings, host: domain)) ?? SSHTarget(host: domain, user: "", privateKeyPath: "", knownHostsPath: "") })
        default:
            throw WorkerError("executor \(settings.executor) is not supported; use local, ssh, libvirt or noop")
        }
    }

    /// Key authentication with a known_hosts check; both files are required.
    static func target(_ settings: Settings, host: String) throws -> SSHTarget {
        guard let key = settings.sshKey else { throw WorkerError("executor \(settings.executor) needs ssh_key (a private key file)") }
        guard let knownHosts = settings.sshKnownHosts else {
            throw WorkerError("executor \(settings.executor) needs ssh_known_hosts: host keys are always checked")
        }
        return SSHTarget(host: host, port: settings.sshPort, user: settings.sshUser, privateKeyPath: key, knownHostsPath: knownHosts)
    }
}
