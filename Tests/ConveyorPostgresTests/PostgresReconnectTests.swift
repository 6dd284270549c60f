import ConveyorPostgres
import ConveyorTesting
import Foundation
import Synchronization
import Testing

@Suite("Postgres client: server restarts")
struct PostgresReconnectTests {
    /// A private cluster stopped with `-m immediate` (every backend killed, crash recovery on the
    /// next start): queries fail with connection errors, never a crash; after the restart the same
    /// client works again and committed data is still there.
    @Test(.timeLimit(.minutes(2)))
    func reconnectsAfterTheServerIsRestarted() async throws {
        let server = try await PrivatePostgres()
        do {
            try await exercise(server)
        } catch {
            await server.destroy()
            throw error
        }
        await server.destroy()
    }

    private func exercise(_ server: PrivatePostgres) async throws {
        try await server.start()
        let pg = PostgresClient(configuration: .init(url: server.url, poolSize: 2, connectTimeoutSeconds: 2))
        try await pg.query("CREATE TABLE survivors (id int PRIMARY KEY, note text)")
        try await pg.query("INSERT INTO survivors VALUES ($1, $2)", [.int(1), .text("before the crash")])
        // Open both pooled connections, so both must notice the restart.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<2 { group.addTask { try await pg.query("SELECT pg_sleep(0.1)") } }
            try await group.waitForAll()
        }

        try await server.stopImmediately()

        for _ in 0..<3 {
            do {
                try await pg.query("SELECT 1")
                Issue.record("a query to a stopped server must fail")
            } catch let error as PostgresError {
                #expect(error.isConnectionFailure, "\(error)")
            }
        }
        do {
            _ = try await pg.transaction { connection in try await connection.query("SELECT 1") }
            Issue.record("a transaction on a stopped server must fail")
        } catch let error as PostgresError {
            #expect(error.isConnectionFailure, "\(error)")
        }

        try await server.start()
        let back = try await eventually(timeout: .seconds(30), every: .milliseconds(200)) {
            (try? await pg.query("SELECT 1")) != nil
        }
        #expect(back, "the client did not reconnect to the restarted server")
        // Every pooled connection recovers.
        for _ in 0..<6 {
            let ok = try await eventually(timeout: .seconds(10)) {
                (try? await pg.query("SELECT note FROM survivors WHERE id = 1"))?.first?["note"].string == "before the crash"
            }
            #expect(ok)
        }
        let inserted = try await pg.transaction { connection in
            try await connection.query("INSERT INTO survivors VALUES ($1, $2)", [.int(2), .text("after")]).affectedRows
        }
        #expect(inserted == 1)
        #expect(try await pg.query("SELECT count(*) AS c FROM survivors").first?["c"].int == 2)
        await pg.close()
    }

    /// Many tasks stream single statements (pipelined on a pool of 2) while the server is killed
    /// and started again: every statement either fails with a connection error or returns its own
    /// row, nothing hangs, the stream recovers, and every acknowledged insert is still there.
    @Test(.timeLimit(.minutes(2)))
    func pipelinedStreamSurvivesARestart() async throws {
        let server = try await PrivatePostgres()
        do {
            try await stream(server)
        } catch {
            await server.destroy()
            throw error
        }
        await server.destroy()
    }

    private func stream(_ server: PrivatePostgres) async throws {
        try await server.start()
        let pg = PostgresClient(configuration: .init(url: server.url, poolSize: 2, connectTimeoutSeconds: 2))
        try await pg.query("CREATE TABLE stream (id int PRIMARY KEY)")
        let state = StreamState()
        let streaming = Task {
            try await withThrowingTaskGroup(of: [Int].self) { group in
                for task in 0..<16 {
                    group.addTask {
                        var acknowledged: [Int] = []
                        var n = 0
                        while !state.stopped {
                            n += 1
                            let id = task * 1_000_000 + n
                            let restarted = state.restarted
                            do {
                                let row = try await pg.query("INSERT INTO stream (id) VALUES ($1) RETURNING id", [.int(id)]).first
                                #expect(row?["id"].int == id)
                                acknowledged.append(id)
                                if restarted { state.succeededAfterRestart() }
                            } catch let error as PostgresError {
                                #expect(error.isConnectionFailure, "\(error)")
                                try await Task.sleep(for: .milliseconds(10))
                            }
                        }
                        return acknowledged
                    }
                }
                var all: [Int] = []
                for try await ids in group { all += ids }
                return all
            }
        }
        try await Task.sleep(for: .milliseconds(500))
        try await server.stopImmediately()
        try await Task.sleep(for: .milliseconds(500))
        try await server.start()
        state.markRestarted()
        let recovered = try await eventually(timeout: .seconds(30), every: .milliseconds(100)) { state.successesAfterRestart >= 500 }
        state.stop()
        let acknowledged = try await streaming.value
        #expect(recovered, "the stream did not recover after the restart")
        let stored = Set(try await pg.query("SELECT id FROM stream").rows.compactMap { $0["id"].int })
        #expect(Set(acknowledged).isSubset(of: stored), "acknowledged inserts lost")
        await pg.close()
    }
}

/// Flags shared by the streaming tasks and the test.
private final class StreamState: Sendable {
    private enum Phase { case beforeRestart, afterRestart, stopped }

    private struct State {
        var phase = Phase.beforeRestart
        var afterRestart = 0
    }

    private let state = Mutex(State())

    var stopped: Bool { state.withLock { $0.phase == .stopped } }
    var restarted: Bool { state.withLock { $0.phase != .beforeRestart } }
    var successesAfterRestart: Int { state.withLock { $0.afterRestart } }
    func stop() { state.withLock { $0.phase = .stopped } }
    func markRestarted() { state.withLock { if $0.phase == .beforeRestart { $0.phase = .afterRestart } } }
    func succeededAfterRestart() { state.withLock { $0.afterRestart += 1 } }
}
