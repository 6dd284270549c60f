import ConveyorRedis
import ConveyorTesting
import Foundation
import Testing

@Suite("Redis client: Sentinel")
struct RedisSentinelTests {
    @Test func sentinelURLsAreParsed() throws {
        let url = try RedisURL("redis+sentinel://app:p%40ss@10.0.0.1:26379,10.0.0.2,[::1]:26380/mymaster/2?sentinel_password=s3")
        #expect(url.sentinel?.addresses == [.init(host: "10.0.0.1", port: 26379), .init(host: "10.0.0.2", port: 26379), .init(host: "::1", port: 26380)])
        #expect(url.sentinel?.masterName == "mymaster")
        #expect(url.sentinel?.password == "s3")
        #expect(url.sentinel?.user == nil)
        #expect(url.user == "app")
        #expect(url.password == "p@ss")
        #expect(url.database == 2)
        #expect(!url.description.contains("p@ss"))
        #expect(url.description == "redis+sentinel://10.0.0.1:26379,10.0.0.2:26379,[::1]:26380/mymaster/2")
        let bare = try RedisURL("redis+sentinel://:pw@sentinel/cache")
        #expect(bare.user == nil && bare.password == "pw" && bare.database == 0 && bare.sentinel?.addresses.first?.port == 26379)
        // The same credentials rule as redis:// URLs.
        let direct = try RedisURL("redis://:pw@host:7000/1")
        #expect(direct.user == nil && direct.password == "pw")
        for bad in ["redis+sentinel://host:26379", "redis+sentinel://host:26379/", "redis+sentinel:///mymaster",
                    "redis+sentinel://host:notaport/mymaster", "redis+sentinel://host/mymaster/x"] {
            #expect(throws: RedisError.self, "\(bad)") { try RedisURL(bad) }
        }
    }

    /// SIGKILL of the master mid-traffic: Sentinel promotes the replica and the same client (pool
    /// and a dedicated connection) carries on against it, authenticated as the ACL user.
    @Test(.timeLimit(.minutes(2)))
    func followsAFailoverAfterTheMasterIsKilled() async throws {
        let group = try PrivateSentinelGroup()
        try await group.start()
        let client = RedisClient(configuration: .init(url: try RedisURL(group.url), poolSize: 2,
                                                      connectTimeout: .milliseconds(500), commandTimeout: .seconds(2)))
        let blocking = client.dedicatedConnection(name: "test-sentinel-blocking")
        try await client.send("SET", "before", "1")
        #expect(client.endpoint.master?.port == group.masterPort)
        #expect(try await blocking.send(["PING"]) == .simple("PONG"))
        // WAIT: the replica has the key before the master dies.
        #expect(try await client.send("WAIT", "1", "2000").int == 1)

        await group.killMaster()
        let promoted = try await eventually(timeout: .seconds(60), every: .milliseconds(200)) {
            (try? await client.send("SET", "after", "2")) == .simple("OK")
        }
        #expect(promoted, "the client never wrote to a promoted master")
        #expect(group.sentinelMasterPort() == group.replicaPort)
        #expect(client.endpoint.master?.port == group.replicaPort)
        #expect(client.endpoint.masterChanges >= 1)
        // Every pooled connection follows (one may sit out a short reconnect backoff first).
        for _ in 0..<4 {
            let read = try await eventually(timeout: .seconds(10)) { (try? await client.send("GET", "before"))?.string == "1" }
            #expect(read, "the promoted master lacks the key written before the failover")
            let role = try await eventually(timeout: .seconds(10)) { (try? await client.send("ROLE"))?.array?.first?.string == "master" }
            #expect(role)
        }
        let dedicatedBack = try await eventually(timeout: .seconds(20)) { (try? await blocking.send(["SET", "d", "1"])) == .simple("OK") }
        #expect(dedicatedBack)
        await blocking.close()
        await client.close()
        await group.stop()
    }

    /// A failover while the old master stays up (it becomes a replica): writes must reach the new
    /// master, never fail for good on the demoted one (`+switch-master`, or a `READONLY` reply).
    @Test(.timeLimit(.minutes(2)))
    func followsAManualFailover() async throws {
        let group = try PrivateSentinelGroup()
        try await group.start()
        let client = RedisClient(configuration: .init(url: try RedisURL(group.url), poolSize: 3,
                                                      connectTimeout: .milliseconds(500), commandTimeout: .seconds(2)))
        for i in 0..<3 { try await client.send("SET", RedisArgument("k\(i)"), "old") }
        #expect(client.endpoint.master?.port == group.masterPort)
        let generation = client.endpoint.generation
        _ = try group.cli(group.sentinelPort, ["SENTINEL", "FAILOVER", PrivateSentinelGroup.masterName], auth: false)
        let switched = try await eventually(timeout: .seconds(60), every: .milliseconds(200)) {
            group.sentinelMasterPort() == group.replicaPort
        }
        #expect(switched, "Sentinel did not fail over")
        // Sentinel announces the new master before it turns the old one into a replica; until then the
        // old master still takes writes (Sentinel's asynchronous window, docs/runbook.md). Wait for the
        // demotion, so every OK below can only come from the new master.
        let demoted = try await eventually(timeout: .seconds(30), every: .milliseconds(100)) {
            (try? group.cli(group.masterPort, ["ROLE"]))?.hasPrefix("slave") == true
        }
        #expect(demoted, "Sentinel never demoted the old master")
        // Every write eventually lands on the new master: the client follows `+switch-master` or the
        // demoted master's `READONLY` reply.
        let followed = try await eventually(timeout: .seconds(30), every: .milliseconds(100)) {
            for i in 0..<3 where (try? await client.send("SET", RedisArgument("k\(i)"), "new")) != .simple("OK") { return false }
            return true
        }
        #expect(followed)
        #expect(client.endpoint.generation > generation)
        #expect(client.endpoint.master?.port == group.replicaPort)
        for i in 0..<3 {
            #expect(try group.cli(group.replicaPort, ["GET", "k\(i)"]).trimmingCharacters(in: .whitespacesAndNewlines) == "new")
        }
        await client.close()
        await group.stop()
    }

    /// Sentinels that cannot be reached are a clear, transient error naming them.
    @Test func unreachableSentinelsAreAnError() async throws {
        let port = try freeLoopbackPort()
        let client = RedisClient(configuration: .init(url: try RedisURL("redis+sentinel://127.0.0.1:\(port)/nothing"), poolSize: 1,
                                                      connectTimeout: .milliseconds(300)))
        do {
            try await client.send("PING")
            Issue.record("PING without a Sentinel must fail")
        } catch let error as RedisError {
            #expect(error.isTransient)
            #expect(error.message.contains("127.0.0.1:\(port)"), "\(error)")
        }
        await client.close()
    }
}
