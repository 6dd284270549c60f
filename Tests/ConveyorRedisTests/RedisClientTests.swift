import ConveyorRedis
import ConveyorTesting
import Foundation
import Testing

/// A key prefix of one test, so tests running in parallel on the shared server never meet.
func uniquePrefix() -> String { "cvtest:\(UUID().uuidString.prefix(8).lowercased()):" }

@Suite("Redis client: commands, values, pipelines")
struct RedisClientTests {
    @Test func roundTrips() async throws {
        let redis = try await TestEnvironment.redis()
        let p = uniquePrefix()
        #expect(try await redis.send("PING") == .simple("PONG"))
        #expect(try await redis.send("SET", RedisArgument(p + "a"), "hello") == .simple("OK"))
        #expect(try await redis.send("GET", RedisArgument(p + "a")).string == "hello")
        #expect(try await redis.send("INCRBY", RedisArgument(p + "n"), 41) == .integer(41))
        #expect(try await redis.send("INCR", RedisArgument(p + "n")).int == 42)
        #expect(try await redis.send("DEL", RedisArgument(p + "a"), RedisArgument(p + "n")) == .integer(2))
        #expect(try await redis.send("EXISTS", RedisArgument(p + "a")) == .integer(0))
        await redis.close()
    }

    @Test func manyConcurrentCallersShareThePool() async throws {
        let redis = try await TestEnvironment.redis(poolSize: 3)
        let p = uniquePrefix()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<200 {
                group.addTask {
                    let key = RedisArgument(p + "k\(i)")
                    try await redis.send("SET", key, RedisArgument(i))
                    let value = try await redis.send("GET", key)
                    #expect(value.int == Int64(i))
                }
            }
            try await group.waitForAll()
        }
        #expect(try await redis.send(["DEL"] + (0..<200).map { RedisArgument(p + "k\($0)") }) == .integer(200))
        await redis.close()
    }

    @Test func allByteValuesRoundTrip() async throws {
        let redis = try await TestEnvironment.redis()
        let key = RedisArgument(uniquePrefix() + "bytes")
        let all = (0...255).map { UInt8($0) }
        try await redis.send("SET", key, RedisArgument(bytes: all))
        #expect(try await redis.send("GET", key) == .bulk(all))
        #expect(try await redis.send("STRLEN", key) == .integer(256))
        try await redis.send("DEL", key)
        await redis.close()
    }

    @Test func embeddedNULsInKeysAndValues() async throws {
        let redis = try await TestEnvironment.redis()
        let prefix = Array(uniquePrefix().utf8)
        let key = RedisArgument(bytes: prefix + [0, 0x6B, 0, 0xFF, 0])
        let other = RedisArgument(bytes: prefix + [0, 0x6B])
        let value: [UInt8] = [0, 0, 0x61, 0, 0x0D, 0x0A, 0x24, 0x2A, 0]
        try await redis.send("SET", key, RedisArgument(bytes: value))
        #expect(try await redis.send("GET", key) == .bulk(value))
        // The key is not cut at its first NUL: a key equal to that prefix does not exist.
        #expect(try await redis.send("GET", other) == .null)
        // Empty value: present, zero length.
        try await redis.send("SET", other, RedisArgument(bytes: []))
        #expect(try await redis.send("GET", other) == .bulk([]))
        try await redis.send("DEL", key, other)
        await redis.close()
    }

    @Test func oneMegabyteValue() async throws {
        let redis = try await TestEnvironment.redis()
        let key = RedisArgument(uniquePrefix() + "big")
        var generator = SystemRandomNumberGenerator()
        let big = (0..<(1 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        try await redis.send("SET", key, RedisArgument(bytes: big))
        let back = try await redis.send("GET", key)
        #expect(back.bytes?.count == 1 << 20)
        #expect(back == .bulk(big))
        try await redis.send("DEL", key)
        await redis.close()
    }

    @Test func pipelineOfTenThousandCommands() async throws {
        let redis = try await TestEnvironment.redis()
        let p = uniquePrefix()
        let counter = RedisArgument(p + "counter")
        let commands: [RedisCommand] = (0..<10_000).map { _ in ["INCR", counter] }
        let replies = try await redis.pipeline(commands)
        #expect(replies.count == 10_000)
        #expect(replies == (1...10_000).map { RedisValue.integer(Int64($0)) })

        // Mixed commands keep their order; a failing command in the middle does not disturb the others.
        var mixed: [RedisCommand] = []
        for i in 0..<5_000 {
            mixed.append(["SET", RedisArgument(p + "m\(i % 10)"), RedisArgument(i)])
            mixed.append(i == 2_500 ? ["INCR", RedisArgument(p + "m0"), "extra"] : ["GET", RedisArgument(p + "m\(i % 10)")])
        }
        let mixedReplies = try await redis.pipeline(mixed)
        #expect(mixedReplies.count == 10_000)
        for i in 0..<5_000 {
            #expect(mixedReplies[2 * i] == .simple("OK"))
            if i == 2_500 {
                guard case .error(let message) = mixedReplies[2 * i + 1] else {
                    Issue.record("expected an error reply, got \(mixedReplies[2 * i + 1])")
                    continue
                }
                #expect(message.hasPrefix("ERR"))
            } else if mixedReplies[2 * i + 1].string != String(i) {
                Issue.record("reply \(2 * i + 1) is \(mixedReplies[2 * i + 1]), expected \(i)")
                break
            }
        }
        try await redis.send(["DEL", counter] + (0..<10).map { RedisArgument(p + "m\($0)") })
        await redis.close()
    }

    @Test func emptyPipelineAndEmptyCommand() async throws {
        let redis = try await TestEnvironment.redis()
        #expect(try await redis.pipeline([]) == [])
        do {
            try await redis.send([])
            Issue.record("an empty command must be refused")
        } catch let error as RedisError {
            #expect(error.code == .protocolError)
        }
        // A pipeline with an empty command is refused whole, before anything is sent.
        let key = RedisArgument(uniquePrefix() + "never")
        await #expect(throws: RedisError.self) { try await redis.pipeline([["SET", key, "1"], []]) }
        #expect(try await redis.send("EXISTS", key) == .integer(0))
        #expect(try await redis.send("PING") == .simple("PONG"))
        await redis.close()
    }

    @Test func typedReplies() async throws {
        let redis = try await TestEnvironment.redis()
        let p = uniquePrefix()
        let text = RedisArgument(p + "text")
        let list = RedisArgument(p + "list")

        // Status (simple string) and bulk string.
        #expect(try await redis.send("SET", text, "héllo") == .simple("OK"))
        let bulk = try await redis.send("GET", text)
        #expect(bulk == .bulk(Array("héllo".utf8)))
        #expect(bulk.string == "héllo")
        // Integer.
        #expect(try await redis.send("RPUSH", list, "a", "b", "c") == .integer(3))
        // Array, and a nested array (nil elements inside).
        #expect(try await redis.send("LRANGE", list, 0, -1) == .array([.bulk([0x61]), .bulk([0x62]), .bulk([0x63])]))
        #expect(try await redis.send("MGET", text, RedisArgument(p + "missing")) == .array([.bulk(Array("héllo".utf8)), .null]))
        #expect(try await redis.send("LRANGE", RedisArgument(p + "none"), 0, -1) == .array([]))
        // Nil.
        let missing = try await redis.send("GET", RedisArgument(p + "missing"))
        #expect(missing == .null)
        #expect(missing.isNull)
        #expect(missing.string == nil)

        // Error: in place in a pipeline …
        let replies = try await redis.pipeline([["INCR", text], ["LPUSH", text, "x"], ["PING"]])
        #expect(replies[0] == .error("ERR value is not an integer or out of range"))
        guard case .error(let wrongType) = replies[1] else {
            Issue.record("expected WRONGTYPE, got \(replies[1])")
            return
        }
        #expect(wrongType.hasPrefix("WRONGTYPE"))
        #expect(replies[2] == .simple("PONG"))
        // … and thrown by `send`, with the server's message.
        do {
            try await redis.send("INCR", text)
            Issue.record("INCR on a non-integer must fail")
        } catch let error as RedisError {
            #expect(error.code == .server)
            #expect(error.message == "ERR value is not an integer or out of range")
            #expect(error.serverPrefix == "ERR")
            #expect(!error.isTransient)
        }
        do {
            try await redis.send("NOSUCHCOMMAND", "x")
            Issue.record("an unknown command must fail")
        } catch let error as RedisError {
            #expect(error.code == .server)
            #expect(error.message.contains("unknown command"))
        }
        do {
            try await redis.send("LPUSH", text, "x")
            Issue.record("LPUSH on a string must fail")
        } catch let error as RedisError {
            #expect(error.serverPrefix == "WRONGTYPE")
        }
        // The connection is still fine after errors.
        #expect(try await redis.send("GET", text).string == "héllo")
        try await redis.send("DEL", text, list)
        await redis.close()
    }

    @Test func urlSelectsDatabase() async throws {
        let base = try RedisURL(TestEnvironment.redisURL)
        let db0 = try await TestEnvironment.redis()
        let db5 = RedisClient(configuration: .init(url: RedisURL(host: base.host, port: base.port, password: base.password, database: 5), poolSize: 1))
        let key = RedisArgument(uniquePrefix() + "db")
        try await db5.send("SET", key, "five")
        #expect(try await db5.send("GET", key).string == "five")
        #expect(try await db0.send("GET", key) == .null)
        try await db5.send("DEL", key)
        await db5.close()
        await db0.close()
    }

    @Test func invalidURLsAreErrors() throws {
        #expect(throws: RedisError.self) { try RedisURL("http://127.0.0.1:6379") }
        #expect(throws: RedisError.self) { try RedisURL("redis://127.0.0.1:6379/notanumber") }
        let parsed = try RedisURL("redis://user:p%40ss@example.org:7000/3")
        #expect(parsed.host == "example.org")
        #expect(parsed.port == 7000)
        #expect(parsed.user == "user")
        #expect(parsed.password == "p@ss")
        #expect(parsed.database == 3)
        #expect(!parsed.description.contains("p@ss"))
        let v6 = try RedisURL("redis://[::1]:7001")
        #expect(v6.host == "::1" && v6.port == 7001 && v6.database == 0 && v6.user == nil && v6.password == nil)
        #expect(try RedisURL("redis://cache.internal/2").port == 6379)
        for bad in ["redis://", "redis:///0", "redis://host:port/0", "redis://host:70000", "redis://:pw@/1"] {
            #expect(throws: RedisError.self, "\(bad)") { try RedisURL(bad) }
        }
    }

    @Test func unreachableServerIsAnErrorNotACrash() async throws {
        let port = try freeLoopbackPort()
        let client = RedisClient(configuration: .init(url: RedisURL(port: port), poolSize: 1, connectTimeout: .milliseconds(500)))
        do {
            try await client.send("PING")
            Issue.record("PING to a closed port must fail")
        } catch let error as RedisError {
            #expect(error.code == .connectFailed || error.code == .connectionLost)
            #expect(error.isTransient)
        }
        await client.close()
        // A closed client refuses further work with `.closed`.
        do {
            try await client.send("PING")
            Issue.record("a closed client must refuse work")
        } catch let error as RedisError {
            #expect(error.code == .closed)
        }
    }

    @Test func noscriptReloadAfterScriptFlush() async throws {
        let redis = try await TestEnvironment.redis()
        let key = RedisArgument(uniquePrefix() + "script")
        // The source is unique to this test so its SHA is not shared with anything else.
        let script = RedisScript(name: "incr-\(UUID().uuidString.prefix(6))",
                                 source: "-- \(UUID().uuidString)\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])")
        #expect(try await redis.evaluate(script, keys: [key], args: [5]) == .integer(5))
        #expect(try await redis.evaluate(script, keys: [key], args: [1]) == .integer(6))

        let sha = try await redis.send("EVAL", "return redis.sha1hex(ARGV[1])", 0, RedisArgument(script.source)).bytes ?? []
        #expect(try await redis.send("SCRIPT", "EXISTS", RedisArgument(bytes: sha)) == .array([.integer(1)]))
        #expect(try await redis.send("SCRIPT", "FLUSH") == .simple("OK"))
        #expect(try await redis.send("SCRIPT", "EXISTS", RedisArgument(bytes: sha)) == .array([.integer(0)]))

        // EVALSHA answers NOSCRIPT; the client reloads and runs it again, transparently.
        #expect(try await redis.evaluate(script, keys: [key], args: [10]) == .integer(16))
        #expect(try await redis.send("SCRIPT", "EXISTS", RedisArgument(bytes: sha)) == .array([.integer(1)]))

        // A script error is a server error with Redis's message, not a crash.
        let failing = RedisScript(name: "fail", source: "-- \(UUID().uuidString)\nreturn redis.error_reply('BOOM something broke')")
        do {
            try await redis.evaluate(failing, keys: [], args: [])
            Issue.record("the script must fail")
        } catch let error as RedisError {
            #expect(error.code == .server)
            #expect(error.message.contains("BOOM something broke"))
        }
        try await redis.send("DEL", key)
        await redis.close()
    }
}
