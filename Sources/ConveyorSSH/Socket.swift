#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Plain POSIX socket helpers for the session thread.
enum Socket {
    /// Connects a non-blocking TCP socket to `host:port` within `timeoutMs`; returns the descriptor.
    static func connect(host: String, port: Int, timeoutMs: Int32) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw SSHError("cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(first) }
        var lastError = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            do {
                return try connectOne(info.pointee, timeoutMs: timeoutMs)
            } catch let error as SSHError {
                lastError = error.message
            }
        }
        throw SSHError("cannot connect to \(host):\(port): \(lastError)")
    }

    private static func connectOne(_ info: addrinfo, timeoutMs: Int32) throws -> Int32 {
        #if canImport(Glibc)
        let type = info.ai_socktype | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        #else
        let type = info.ai_socktype
        #endif
        let fd = socket(info.ai_family, type, info.ai_protocol)
        guard fd >= 0 else { throw SSHError("socket: \(errnoText())") }
        #if canImport(Darwin)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK)
        #endif
        if systemConnect(fd, info.ai_addr, info.ai_addrlen) == 0 { return fd }
        guard errno == EINPROGRESS else {
            let text = errnoText()
            close(fd)
            throw SSHError(text)
        }
        guard wait(fd, forWrite: true, timeoutMs: timeoutMs) else {
            close(fd)
            throw SSHError("timed out after \(timeoutMs) ms")
        }
        var soError: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length)
        guard soError == 0 else {
            close(fd)
            throw SSHError(String(cString: strerror(soError)))
        }
        return fd
    }

    /// Waits until `fd` is readable (and writable when asked); false on timeout.
    @discardableResult
    static func wait(_ fd: Int32, forRead: Bool = false, forWrite: Bool = false, timeoutMs: Int32) -> Bool {
        var events: Int16 = 0
        if forRead { events |= Int16(POLLIN) }
        if forWrite { events |= Int16(POLLOUT) }
        var entry = pollfd(fd: fd, events: events, revents: 0)
        while true {
            let rc = poll(&entry, 1, timeoutMs)
            if rc < 0 && errno == EINTR { continue }
            return rc > 0
        }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}

#if canImport(Glibc)
private func systemConnect(_ fd: Int32, _ addr: UnsafeMutablePointer<sockaddr>?, _ len: socklen_t) -> Int32 {
    Glibc.connect(fd, addr, len)
}
#else
private func systemConnect(_ fd: Int32, _ addr: UnsafeMutablePointer<sockaddr>?, _ len: socklen_t) -> Int32 {
    Darwin.connect(fd, addr, len)
}
#endif
