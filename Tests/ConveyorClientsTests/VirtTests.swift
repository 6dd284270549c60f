import Foundation
import ConveyorVirt
import Testing

/// libvirt's built-in test driver. "test:///default" is shared by every connection in the process (the
/// worker's libvirt tests use it), so this suite opens the same driver on a private node file: one
/// running domain, "test", whose state belongs to this connection alone.
@Suite("libvirt on the test driver", .serialized)
struct VirtTests {
    static func withConnection(_ body: (VirtConnection) async throws -> Void) async throws {
        let connection = try await VirtConnection.open(uri: try privateNodeURI())
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

/// Writes a test-driver node file with one domain named "test" and returns its `test://` URI.
func privateNodeURI() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("cv-virt-\(UUID().uuidString.prefix(8)).xml").path
    let xml = """
        <node>
          <domain type='test'>
            <name>test</name>
            <memory>8388608</memory>
            <vcpu>2</vcpu>
            <os><type arch='i686'>hvm</type></os>
          </domain>
        </node>
        """
    try xml.write(toFile: path, atomically: true, encoding: .utf8)
    return "test://" + path
}
