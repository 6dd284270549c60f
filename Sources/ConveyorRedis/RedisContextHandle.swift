import CHiredis
import Foundation

/// Owns one `redisContext`. Not thread-safe by itself: `RedisConnection` only touches it from its
/// own thread. All hiredis calls of the project live in this file.
final class RedisContextHandle {
    private var context: UnsafeMutablePointer<redisContext>?

    var isConnected: Bool { context != nil }

    /// Connects, authenticates and selects the database; with `checkMaster`, also asks `ROLE` and
    /// refuses a server that is not a master (a Sentinel's answer may be stale during a failover).
    /// Throws `connectFailed` with hiredis's message.
    func connect(url: RedisURL, connectTimeout: Duration, commandTimeout: Duration, checkMaster: Bool = false) throws(RedisError) {
        close()
        guard let ctx = redisConnectWithTimeout(url.host, Int32(url.port), Self.timeval(connectTimeout)) else {
            throw RedisError(code: .connectFailed, message: "cannot allocate redis context")
        }
        if ctx.pointee.err != 0 {
            let message = Self.errorString(ctx)
            redisFree(ctx)
            throw RedisError(code: .connectFailed, message: "\(url): \(message)")
        }
        context = ctx
        _ = redisSetTimeout(ctx, Self.timeval(commandTimeout))
        _ = redisEnableKeepAlive(ctx)
        do throws(RedisError) {
            if let password = url.password {
                var auth = [Array("AUTH".utf8)]
                if let user = url.user { auth.append(Array(user.utf8)) }
                auth.append(Array(password.utf8))
                try execute([auth])[0].throwingError()
            }
            if url.database != 0 {
                try execute([[Array("SELECT".utf8), Array(String(url.database).utf8)]])[0].throwingError()
            }
            if checkMaster {
                let role = try execute([[Array("ROLE".utf8)]])[0].throwingError()
                let name = role.array?.first?.string ?? "?"
                if name != "master" { throw RedisError(code: .connectFailed, message: "ROLE is \(name), not master (failover in progress?)") }
            }
        } catch {
            close()
            throw RedisError(code: .connectFailed, message: "\(url): \(error.message)")
        }
    }

    func setTimeout(_ timeout: Duration) {
        guard let ctx = context else { return }
        _ = redisSetTimeout(ctx, Self.timeval(timeout))
    }

    /// Sends every command, then reads one reply per command (a pipeline). Any I/O or protocol
    /// failure closes the context: a broken connection is never reused.
    func execute(_ commands: [[[UInt8]]]) throws(RedisError) -> [RedisValue] {
        try execute([EncodedCommands(raw: commands)])
    }

    /// Hands each request's encoded commands to hiredis's output buffer, then reads one reply per
    /// command (hiredis writes the buffer out before its first read).
    func execute(_ requests: [EncodedCommands]) throws(RedisError) -> [RedisValue] {
        guard let ctx = context else { throw RedisError(code: .connectionLost, message: "not connected") }
        var total = 0
        for request in requests {
            let appended = request.bytes.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { chars in
                    redisAppendFormattedCommand(ctx, chars.baseAddress, chars.count)
                }
            }
            if appended != REDIS_OK { throw failure(ctx) }
            total += request.count
        }
        var replies: [RedisValue] = []
        replies.reserveCapacity(total)
        for _ in 0..<total {
            var raw: UnsafeMutableRawPointer?
            if redisGetReply(ctx, &raw) != REDIS_OK || raw == nil {
                throw failure(ctx)
            }
            let reply = raw!.assumingMemoryBound(to: redisReply.self)
            replies.append(Self.convert(reply))
            freeReplyObject(raw)
        }
        return replies
    }

    /// Reads one more reply (a pub/sub message) without sending anything.
    func readReply() throws(RedisError) -> RedisValue {
        guard let ctx = context else { throw RedisError(code: .connectionLost, message: "not connected") }
        var raw: UnsafeMutableRawPointer?
        if redisGetReply(ctx, &raw) != REDIS_OK || raw == nil { throw failure(ctx) }
        defer { freeReplyObject(raw) }
        return Self.convert(raw!.assumingMemoryBound(to: redisReply.self))
    }

    /// Whether a reply is buffered or the socket turns readable within `timeout` (so a
    /// subscriber can wait in short steps and still notice it should stop).
    func waitReadable(_ timeout: Duration) -> Bool {
        guard let ctx = context else { return false }
        if let reader = ctx.pointee.reader, reader.pointee.pos < reader.pointee.len { return true }
        var descriptor = pollfd(fd: Int32(ctx.pointee.fd), events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        return poll(&descriptor, 1, milliseconds) > 0
    }

    func close() {
        if let ctx = context { redisFree(ctx) }
        context = nil
    }

    deinit { close() }

    // MARK: - Helpers

    private func failure(_ ctx: UnsafeMutablePointer<redisContext>) -> RedisError {
        let code = ctx.pointee.err
        let message = Self.errorString(ctx)
        close()
        if code == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK || message.contains("temporarily unavailable")) {
            return RedisError(code: .timeout, message: "no reply within the command timeout")
        }
        if code == REDIS_ERR_PROTOCOL { return RedisError(code: .protocolError, message: message) }
        return RedisError(code: .connectionLost, message: message.isEmpty ? "connection closed" : message)
    }

    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisValue {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            return .bulk(bytes(r.str, r.len))
        case REDIS_REPLY_STATUS:
            return .simple(text(r.str, r.len))
        case REDIS_REPLY_ERROR:
            return .error(text(r.str, r.len))
        case REDIS_REPLY_INTEGER:
            return .integer(r.integer)
        case REDIS_REPLY_NIL:
            return .null
        case REDIS_REPLY_ARRAY:
            var items: [RedisValue] = []
            items.reserveCapacity(r.elements)
            for i in 0..<r.elements {
                if let element = r.element[i] { items.append(convert(element)) } else { items.append(.null) }
            }
            return .array(items)
        default:
            return .error("unsupported reply type \(r.type)")
        }
    }

    private static func bytes(_ pointer: UnsafeMutablePointer<CChar>?, _ length: Int) -> [UInt8] {
        guard let pointer, length > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: length))
    }

    /// Status and error lines, decoded straight from hiredis's buffer (no intermediate array).
    private static func text(_ pointer: UnsafeMutablePointer<CChar>?, _ length: Int) -> String {
        guard let pointer, length > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: length), as: UTF8.self)
    }

    private static func errorString(_ ctx: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: ctx.pointee.errstr) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }

    static func timeval(_ d: Duration) -> Foundation.timeval {
        let (seconds, attoseconds) = d.components
        return Foundation.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}
