/// The libvirt domains of this worker, one per slot; a job borrows a free one.
actor DomainPool {
    private var free: [String]

    init(_ domains: [String]) {
        free = domains
    }

    func acquire() throws -> String {
        guard !free.isEmpty else { throw ExecutorError(reason: "vm_unavailable", "no free libvirt domain: list one domain per worker slot") }
        return free.removeFirst()
    }

    func release(_ domain: String) {
        free.append(domain)
    }
}
