import ConveyorRedis
import ConveyorTesting
import Foundation
import Testing

@Suite("Redis client: server restarts")
struct RedisReconnectTests {
    /// Kills a private server with SIGKILL: callers see structured errors (never a crash); once the
    /// server is back on the same port, the same client works again.
    @Test(.timeLimit(.minutes(1)))
    func reconnectsAfterTheServerIsRestarted() async throws {
        let server = try PrivateRedis()
        try await server.start()
        let client = RedisClient(configuration: .init(url: try RedisURL(server.url), poolSize: 2,
                                                      connectTimeout: .milliseconds(500), commandTimeout: .seconds(2)))
        let blocking = client.dedicatedConnection(name: "test-reconnect-blocking")
        try await client.send("SET", "before", "1")
        #expect(try await client.send("GET", "before").string == "1")
        #expect(try await blocking.send(["PING"]) == .simple("PONG"))

        await server.kill()

        // Every connection of the pool, and the dedicated one, fails with a transient error.
        var codes: Set<RedisError.Code> = []
        for _ in 0..<6 {
            do {
                try await client.send("GET", "before")
                Issue.record("a command to a killed server must fail")
            } catch let error as RedisError {
                codes.insert(error.code)
                #expect(error.isTransient, "\(error)")
            }
        }
        do {
            _ = try await blocking.send(["PING"])
            Issue.record("a command to a killed server must fail")
        } catch let error as RedisError {
            codes.insert(error.code)
        }
        #expect(!codes.isEmpty)
        #expect(codes.isSubset(of: [.connectionLost, .connectFailed]), "\(codes)")

        try await server.start()
        // Backoff is capped at 2 s, so a few seconds are enough; the timeout is generous.
        let back = try await eventually(timeout: .seconds(20), every: .milliseconds(100)) {
            (try? await client.send("PING")) == .simple("PONG")
        }
        #expect(back, "the client did not reconnect to the restarted server")
        // The restarted server is empty (no persistence): the client talks to it, not to a stale socket.
        #expect(try await client.send("GET", "before") == .null)
        // Every pooled connection recovers, not just one.
        for i in 0..<10 {
            let ok = try await eventually(timeout: .seconds(10)) { (try? await client.send("SET", "after", RedisArgument(i))) == .simple("OK") }
            #expect(ok)
        }
        let dedicatedBack = try await eventually(timeout: .seconds(20)) { (try? await blocking.send(["PING"])) == .simple("PONG") }
        #expect(dedicatedBack)
        await blocking.close()
        await client.close()
        await server.stop()
    }

    /// A blocking read in flight when the server dies ends with an error, not a hang or a crash.
    @Test(.timeLimit(.minutes(1)))
    func blockingReadFailsWhenTheServerDies() async throws {
        let server = try PrivateRedis()
        try await server.start()
        let client = RedisClient(configuration: .init(url: try RedisURL(server.url), poolSize: 1, connectTimeout: .milliseconds(500)))
        try await client.ensureGroup("s", group: "g")
        let connection = client.dedicatedConnection(name: "test-dying-blocking")
        let reader = Task {
            try await connection.xreadgroupBlocking(group: "g", consumer: "c", streams: ["s"], count: 1, blockMilliseconds: 20_000)
        }
        try await Task.sleep(for: .milliseconds(300))
        let started = ContinuousClock.now
        await server.kill()
        do {
            _ = try await reader.value
            Issue.record("the blocking read must fail when the server dies")
        } catch let error as RedisError {
            #expect(error.code == .connectionLost, "\(error)")
        }
        #expect(ContinuousClock.now - started < .seconds(10))
        await connection.close()
        await client.close()
        await server.stop()
    }
}
