/// Commands encoded in RESP (`*N\r\n$len\r\narg\r\n…`), ready for the socket.
///
/// Encoding happens on the caller's task, into one contiguous buffer per request, so a connection's
/// thread only hands whole buffers to hiredis (`redisAppendFormattedCommand`) instead of formatting
/// every command itself (hiredis's `redisAppendCommandArgv` builds each one with several `sds`
/// reallocations). The encoder walks the arguments through unsafe buffers: no per-argument copies,
/// retains or bounds checks, which dominated the cost of large pipelines.
struct EncodedCommands: Sendable {
    var bytes: [UInt8]
    var count: Int

    /// Room for `*` or `$`, up to 20 digits and CRLF.
    private static let headerRoom = 24

    init(_ commands: [RedisCommand]) throws(RedisError) {
        if commands.isEmpty {
            bytes = []
            count = 0
            return
        }
        let encoded = commands.withUnsafeBufferPointer { commands -> [UInt8]? in
            var capacity = 0
            for i in 0..<commands.count {
                let ok = commands[i].withUnsafeBufferPointer { arguments -> Bool in
                    capacity += Self.headerRoom
                    for j in 0..<arguments.count { capacity += Self.headerRoom + arguments[j].bytes.count + 2 }
                    return !arguments.isEmpty
                }
                if !ok { return nil }
            }
            return [UInt8](unsafeUninitializedCapacity: capacity) { buffer, initialized in
                var writer = Writer(start: buffer.baseAddress!)
                for i in 0..<commands.count {
                    commands[i].withUnsafeBufferPointer { arguments in
                        writer.header(UInt8(ascii: "*"), arguments.count)
                        for j in 0..<arguments.count {
                            arguments[j].bytes.withUnsafeBufferPointer { writer.bulk($0) }
                        }
                    }
                }
                initialized = writer.position - buffer.baseAddress!
            }
        }
        guard let encoded else { throw RedisError(code: .protocolError, message: "empty command") }
        bytes = encoded
        count = commands.count
    }

    /// Raw byte arguments: wrapped (the arrays are shared, not copied) and encoded the same way.
    init(raw commands: [[[UInt8]]]) throws(RedisError) {
        try self.init(commands.map { $0.map(RedisArgument.init(bytes:)) })
    }

    /// Writes RESP into memory sized beforehand (`headerRoom` per header, payload + CRLF per argument).
    private struct Writer {
        var position: UnsafeMutablePointer<UInt8>

        init(start: UnsafeMutablePointer<UInt8>) { position = start }

        @inline(__always)
        mutating func bulk(_ argument: UnsafeBufferPointer<UInt8>) {
            header(UInt8(ascii: "$"), argument.count)
            if let base = argument.baseAddress, argument.count > 0 {
                position.update(from: base, count: argument.count)
                position += argument.count
            }
            crlf()
        }

        /// `<prefix><n>\r\n` for `n` ≥ 0, without going through `String`.
        @inline(__always)
        mutating func header(_ prefix: UInt8, _ n: Int) {
            position.pointee = prefix
            position += 1
            var digits = 1
            var rest = n / 10
            while rest > 0 {
                digits += 1
                rest /= 10
            }
            var value = n
            var i = digits - 1
            while i >= 0 {
                position[i] = UInt8(truncatingIfNeeded: 48 + value % 10)
                value /= 10
                i -= 1
            }
            position += digits
            crlf()
        }

        @inline(__always)
        mutating func crlf() {
            position[0] = 13
            position[1] = 10
            position += 2
        }
    }
}
