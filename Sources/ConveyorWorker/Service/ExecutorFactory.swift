import ConveyorCore

/// Builds the executor the settings name.
enum ExecutorFactory {
    static func make(_ settings: Settings) throws -> any Executor {
        switch settings.executor {
        case "local":
            let kind: Sandbox.Kind = settings.sandbox == "none" ? .none : .bubblewrap(network: settings.sandboxNetwork)
            return LocalExecutor(root: settings.workDirectory, sandbox: Sandbox(kind: kind))
        case "noop":
            return NoopExecutor()
        default:
            throw WorkerError("executor \(settings.executor) is not supported; use local, ssh, libvirt or noop")
        }
    }
}
