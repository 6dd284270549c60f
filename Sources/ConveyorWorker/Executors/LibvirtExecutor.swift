import ConveyorSSH
import ConveyorThreads
import ConveyorVirt

/// Runs each job in a clean VM: revert the slot's domain to its clean snapshot, start it, run the script
/// in it (over SSH once it answers), power it off and revert again, so nothing survives the job.
///
/// With `qemu:///system`: define one domain per worker slot (`libvirt_domains: build-1,build-2`), each
/// with a disk image that has sshd, bash and git and the worker's public key in the build user's
/// `authorized_keys`; boot it once, then shut it down and take the clean snapshot
/// (`virsh snapshot-create-as build-1 clean`). The worker reaches a domain by its name: enable the
/// `libvirt_guest` NSS module (`hosts: files libvirt_guest dns` in /etc/nsswitch.conf) or list the
/// names in /etc/hosts, and put the guests' host keys in `ssh_known_hosts`. A domain that stops during
/// a job resets it (`vm_lost`); one that doesn't answer SSH within the boot timeout resets it too
/// (`vm_boot_failed`).
public struct LibvirtExecutor: Executor {
    /// Runs the script inside the booted domain.
    public typealias Step = @Sendable (_ domain: String, _ job: ExecutionJob, _ started: @escaping @Sendable () async -> Void,
                                       _ output: @escaping @Sendable ([UInt8]) -> Void) async throws -> ExecutionOutcome

    public let uri: String
    public let snapshot: String
    let domains: DomainPool
    let step: Step
    /// Observes the lifecycle ("revert test", "start test", "run test", "poweroff test"), for tests and logs.
    let observe: @Sendable (String) -> Void

    public init(uri: String, domains: [String], snapshot: String, step: @escaping Step,
                observe: @escaping @Sendable (String) -> Void = { _ in }) {
        self.uri = uri
        self.snapshot = snapshot
        self.domains = DomainPool(domains)
        self.step = step
        self.observe = observe
    }

    /// Production: SSH into the domain by name (resolvable through libvirt's NSS module, or
    /// `/etc/hosts`), retrying until it answers or `bootTimeout` passes.
    public init(uri: String, domains: [String], snapshot: String, target: @escaping @Sendable (String) -> SSHTarget,
                bootTimeout: Duration = .seconds(180)) {
        self.init(uri: uri, domains: domains, snapshot: snapshot) { domain, job, started, output in
            let session = try await Self.waitForSSH(target(domain), timeout: bootTimeout)
            do {
                let outcome = try await SSHExecutor(target: target(domain), confine: false).run(job, on: session, started: started, output: output)
                await session.close()
                return outcome
            } catch {
                await session.close()
                throw error
            }
        }
    }

    public var name: String { "libvirt \(uri)" }

    public func run(_ job: ExecutionJob, started: @escaping @Sendable () async -> Void,
                    output: @escaping @Sendable ([UInt8]) -> Void) async throws -> ExecutionOutcome {
        let domain = try await domains.acquire()
        return try await withCleanup {
            try await run(job, in: domain, started: started, output: output)
        } cleanup: { [domains] in
            await domains.release(domain)
        }
    }

    private func run(_ job: ExecutionJob, in domain: String, started: @escaping @Sendable () async -> Void,
                     output: @escaping @Sendable ([UInt8]) -> Void) async throws -> ExecutionOutcome {
        let virt: VirtConnection
        do {
            virt = try await VirtConnection.open(uri: uri)
        } catch {
            throw ExecutorError(reason: "vm_unavailable", "could not connect to \(uri): \(error)")
        }
        do {
            try await boot(domain, virt: virt)
            let result: Result<ExecutionOutcome, any Error>
            do {
                observe("run \(domain)")
                result = .success(try await step(domain, job, started, output))
            } catch {
                result = .failure(error)
            }
            let alive = (try? await virt.state(of: domain)) == .running
            await clean(domain, virt: virt)
            await virt.close()
            switch result {
            case .success(let outcome) where alive || Task.isCancelled: return outcome
            case .success: throw ExecutorError(reason: "vm_lost", "domain \(domain) stopped during the job")
            case .failure(let error) where !alive && !(error is CancellationError):
                throw ExecutorError(reason: "vm_lost", "domain \(domain) stopped during the job: \(error)")
            case .failure(let error): throw error
            }
        } catch {
            await virt.close()
            throw error
        }
    }

    private func boot(_ domain: String, virt: VirtConnection) async throws {
        do {
            observe("revert \(domain)")
            try await virt.revert(domain, toSnapshot: snapshot)
            if try await virt.state(of: domain) != .running {
                observe("start \(domain)")
                try await virt.start(domain)
            }
        } catch {
            throw ExecutorError(reason: "vm_failed", "could not prepare domain \(domain) from snapshot \(snapshot): \(error)")
        }
    }

    /// Power off and revert: the next job finds the domain as the snapshot left it.
    private func clean(_ domain: String, virt: VirtConnection) async {
        observe("poweroff \(domain)")
        if (try? await virt.state(of: domain)) == .running { try? await virt.destroy(domain) }
        observe("revert \(domain)")
        try? await virt.revert(domain, toSnapshot: snapshot)
    }

    static func waitForSSH(_ target: SSHTarget, timeout: Duration) async throws -> SSHSession {
        let deadline = ContinuousClock.now + timeout
        while true {
            do {
                return try await SSHSession.connect(target)
            } catch {
                if ContinuousClock.now >= deadline {
                    throw ExecutorError(reason: "vm_boot_failed", "\(target.host) did not answer over SSH within \(timeout): \(error)")
                }
                try await Task.sleep(for: .seconds(2))
            }
        }
    }
}
