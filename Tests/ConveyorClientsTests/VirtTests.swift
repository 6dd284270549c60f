import ConveyorVirt
import Testing

/// libvirt's built-in test driver: "test:///default" has one running domain, "test". Its state is
/// shared by every connection in the process, hence `.serialized`.
@Suite("libvirt on test:///default", .serialized)
struct VirtTests {
    static func withConnection(_ body: (VirtConnection) async throws -> Void) async throws {
        let connection = try await VirtConnection.open(uri: "test:///default")
        do {
            try await body(connection)
            await connection.close()
        } catch {
            await connection.close()
            throw error
        }
    }

    @Test func listsDomainsAndState() async throws {
        try await Self.withConnection { virt async throws in
            #expect(try await virt.domainNames().contains("test"))
            #expect(try await virt.state(of: "test") == .running)
        }
    }

    @Test func snapshotLifecycle() async throws {
        try await Self.withConnection { virt async throws in
            try await virt.createSnapshot("test", name: "clean")
            #expect(try await virt.snapshotNames("test").contains("clean"))

            try await virt.destroy("test")
            #expect(try await virt.state(of: "test") == .shutoff)
            try await virt.start("test")
            #expect(try await virt.state(of: "test") == .running)

            try await virt.shutdown("test", timeout: .seconds(2))
            #expect(try await virt.state(of: "test") == .shutoff)
            // The snapshot was taken while running, so reverting brings the domain back up.
            try await virt.revert("test", toSnapshot: "clean")
            #expect(try await virt.state(of: "test") == .running)

            try await virt.deleteSnapshot("test", name: "clean")
            #expect(try await !virt.snapshotNames("test").contains("clean"))
        }
    }

    @Test func unknownDomainCarriesLibvirtsMessage() async throws {
        try await Self.withConnection { virt async throws in
            do {
                _ = try await virt.state(of: "no-such-domain")
                Issue.record("state of an unknown domain did not fail")
            } catch let error as VirtError {
                #expect(error.code == VirtError.noDomain)
                #expect(error.message.contains("no-such-domain"), "\(error)")
                #expect(error.message.lowercased().contains("domain not found"), "\(error)")
            }
            await #expect(throws: VirtError.self) { try await virt.revert("test", toSnapshot: "missing") }
        }
    }

    @Test func badURIFails() async throws {
        await #expect(throws: VirtError.self) { _ = try await VirtConnection.open(uri: "nosuchdriver:///x") }
    }
}
