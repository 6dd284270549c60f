extension RedisClient {
    /// `XADD key [trim] * field value …`; returns the new id.
    @discardableResult
    public func xadd(_ stream: String, fields: [(String, RedisArgument)], trim: StreamTrim = .none) async throws -> String {
        let reply = try await send(Self.xaddCommand(stream, fields: fields, trim: trim))
        return reply.string ?? ""
    }

    public static func xaddCommand(_ stream: String, fields: [(String, RedisArgument)], trim: StreamTrim = .none) -> RedisCommand {
        ["XADD", RedisArgument(stream)] + trim.arguments + ["*"] + fieldArguments(fields)
    }

    /// `XGROUP CREATE … MKSTREAM`, treating `BUSYGROUP` (already exists) as success.
    public func ensureGroup(_ stream: String, group: String, startID: String = "0") async throws {
        do {
            try await send(["XGROUP", "CREATE", RedisArgument(stream), RedisArgument(group), RedisArgument(startID), "MKSTREAM"])
        } catch let error as RedisError where error.serverPrefix == "BUSYGROUP" {
            return
        }
    }

    /// Non-blocking `XREADGROUP`; `id` is ">" for new entries or "0" for this consumer's pending ones.
    public func xreadgroup(group: String, consumer: String, streams: [String], id: String = ">", count: Int) async throws -> [(stream: String, entries: [StreamEntry])] {
        let reply = try await send(Self.xreadgroupCommand(group: group, consumer: consumer, streams: streams, id: id, count: count, blockMilliseconds: nil))
        return Self.parseRead(reply)
    }

    public static func xreadgroupCommand(group: String, consumer: String, streams: [String], id: String, count: Int, blockMilliseconds: Int?) -> RedisCommand {
        var command: RedisCommand = ["XREADGROUP", "GROUP", RedisArgument(group), RedisArgument(consumer), "COUNT", RedisArgument(max(1, count))]
        if let block = blockMilliseconds { command += ["BLOCK", RedisArgument(block)] }
        command.append("STREAMS")
        command += streams.map { RedisArgument($0) }
        command += streams.map { _ in RedisArgument(id) }
        return command
    }

    public static func parseRead(_ reply: RedisValue) -> [(stream: String, entries: [StreamEntry])] {
        guard let streams = reply.array else { return [] }
        return streams.compactMap { item in
            guard let pair = item.array, pair.count == 2, let name = pair[0].string else { return nil }
            return (name, StreamEntry.parseList(pair[1]))
        }
    }

    @discardableResult
    public func xack(_ stream: String, group: String, ids: [String]) async throws -> Int {
        if ids.isEmpty { return 0 }
        let reply = try await send(["XACK", RedisArgument(stream), RedisArgument(group)] + ids.map { RedisArgument($0) })
        return Int(reply.int ?? 0)
    }

    /// `XCLAIM … JUSTID`: the ids now owned by `consumer`.
    public func xclaimJustID(_ stream: String, group: String, consumer: String, minIdleMilliseconds: Int, ids: [String]) async throws -> [String] {
        if ids.isEmpty { return [] }
        let reply = try await send(["XCLAIM", RedisArgument(stream), RedisArgument(group), RedisArgument(consumer),
                                    RedisArgument(minIdleMilliseconds)] + ids.map { RedisArgument($0) } + ["JUSTID"])
        return (reply.array ?? []).compactMap(\.string)
    }

    /// One `XAUTOCLAIM` call.
    public func xautoclaim(_ stream: String, group: String, consumer: String, minIdleMilliseconds: Int, start: String = "0-0", count: Int = 100) async throws -> AutoClaimBatch {
        let reply = try await send(["XAUTOCLAIM", RedisArgument(stream), RedisArgument(group), RedisArgument(consumer),
                                    RedisArgument(minIdleMilliseconds), RedisArgument(start), "COUNT", RedisArgument(count)])
        guard let parts = reply.array, parts.count >= 2 else {
            throw RedisError(code: .protocolError, message: "unexpected XAUTOCLAIM reply")
        }
        let deleted = parts.count >= 3 ? (parts[2].array ?? []).compactMap(\.string) : []
        return AutoClaimBatch(nextCursor: parts[0].string ?? "0-0", claimed: StreamEntry.parseList(parts[1]), deletedIDs: deleted)
    }

    /// Loops `XAUTOCLAIM` over the whole pending entries list, following its cursor, and hands each
    /// batch (claimed entries and deleted ids) to `body`. Bounded by `maxRounds` so a busy stream
    /// cannot hold the caller forever.
    public func xautoclaimAll(_ stream: String, group: String, consumer: String, minIdleMilliseconds: Int, count: Int = 100, maxRounds: Int = 1000,
                              _ body: (AutoClaimBatch) async throws -> Void) async throws {
        var cursor = "0-0"
        for _ in 0..<maxRounds {
            let batch = try await xautoclaim(stream, group: group, consumer: consumer, minIdleMilliseconds: minIdleMilliseconds, start: cursor, count: count)
            if !batch.claimed.isEmpty || !batch.deletedIDs.isEmpty { try await body(batch) }
            cursor = batch.nextCursor
            if cursor == "0-0" { return }
        }
    }

    public func xpendingSummary(_ stream: String, group: String) async throws -> PendingSummary {
        let reply = try await send(["XPENDING", RedisArgument(stream), RedisArgument(group)])
        let parts = reply.array ?? []
        var consumers: [String: Int] = [:]
        if parts.count >= 4, let list = parts[3].array {
            for item in list {
                if let pair = item.array, pair.count == 2, let name = pair[0].string { consumers[name] = Int(pair[1].int ?? 0) }
            }
        }
        return PendingSummary(count: Int(parts.first?.int ?? 0), smallestID: parts.count > 1 ? parts[1].string : nil,
                              largestID: parts.count > 2 ? parts[2].string : nil, consumers: consumers)
    }

    /// Extended `XPENDING`: `[IDLE min] start end count [consumer]`.
    public func xpending(_ stream: String, group: String, minIdleMilliseconds: Int? = nil, start: String = "-", end: String = "+", count: Int = 100, consumer: String? = nil) async throws -> [PendingEntry] {
        var command: RedisCommand = ["XPENDING", RedisArgument(stream), RedisArgument(group)]
        if let idle = minIdleMilliseconds { command += ["IDLE", RedisArgument(idle)] }
        command += [RedisArgument(start), RedisArgument(end), RedisArgument(count)]
        if let consumer { command.append(RedisArgument(consumer)) }
        let reply = try await send(command)
        return (reply.array ?? []).compactMap { row in
            guard let r = row.array, r.count >= 4, let id = r[0].string, let c = r[1].string else { return nil }
            return PendingEntry(id: id, consumer: c, idleMilliseconds: r[2].int ?? 0, deliveries: r[3].int ?? 0)
        }
    }

    public func xinfoGroups(_ stream: String) async throws -> [StreamGroupInfo] {
        let reply: RedisValue
        do {
            reply = try await send(["XINFO", "GROUPS", RedisArgument(stream)])
        } catch let error as RedisError where error.message.contains("no such key") {
            return []
        }
        return (reply.array ?? []).map { item in
            let map = item.stringPairs
            return StreamGroupInfo(name: map["name"] ?? "", consumers: Int(map["consumers"] ?? "") ?? 0,
                                   pending: Int(map["pending"] ?? "") ?? 0, lastDeliveredID: map["last-delivered-id"] ?? "",
                                   lag: map["lag"].flatMap { Int($0) })
        }
    }

    public func xlen(_ stream: String) async throws -> Int {
        Int(try await send(["XLEN", RedisArgument(stream)]).int ?? 0)
    }
}

extension RedisConnection {
    /// Blocking `XREADGROUP` on this dedicated connection. The command timeout is stretched past the block time.
    public func xreadgroupBlocking(group: String, consumer: String, streams: [String], id: String = ">", count: Int, blockMilliseconds: Int) async throws -> [(stream: String, entries: [StreamEntry])] {
        let command = RedisClient.xreadgroupCommand(group: group, consumer: consumer, streams: streams, id: id, count: count, blockMilliseconds: blockMilliseconds)
        let reply = try await pipeline([command.map(\.bytes)], timeout: .milliseconds(blockMilliseconds) + .seconds(3))[0]
        return RedisClient.parseRead(try reply.throwingError())
    }

    /// Blocking `XREAD` (no group), for fan-out readers of `cv:events`.
    public func xreadBlocking(streams: [(String, String)], count: Int, blockMilliseconds: Int) async throws -> [(stream: String, entries: [StreamEntry])] {
        var command: [RedisArgument] = ["XREAD", "COUNT", RedisArgument(count), "BLOCK", RedisArgument(blockMilliseconds), "STREAMS"]
        command += streams.map { RedisArgument($0.0) }
        command += streams.map { RedisArgument($0.1) }
        let reply = try await pipeline([command.map(\.bytes)], timeout: .milliseconds(blockMilliseconds) + .seconds(3))[0]
        return RedisClient.parseRead(try reply.throwingError())
    }

    @discardableResult
    public func send(_ command: RedisCommand) async throws -> RedisValue {
        try await pipeline([command.map(\.bytes)])[0].throwingError()
    }
}
