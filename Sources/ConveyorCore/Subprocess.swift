import ConveyorThreads
import Foundation
import Synchronization

/// Runs a command with a timeout, off the cooperative pool: the blocking wait and pipe reads happen
/// on a dedicated thread. Output past `maxOutputBytes` is cut, so a misbehaving command cannot
/// exhaust memory.
public enum Subprocess {
    public struct Result: Sendable {
        public var status: Int32
        public var output: [UInt8]
        public var errorOutput: String
        public var timedOut: Bool
    }

    public static func run(_ arguments: [String], directory: String? = nil, environment: [String: String]? = nil,
                           timeout: Duration = .seconds(60), maxOutputBytes: Int = 16 << 20) async throws -> Result {
        let thread = DedicatedThread(name: "subprocess")
        defer { thread.shutdown() }
        return try await thread.run {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = arguments
            if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
            if let environment { process.environment = environment }
            let out = Pipe()
            let err = Pipe()
            process.standardOutput = out
            process.standardError = err
            process.standardInput = FileHandle.nullDevice
            try process.run()
            let timedOut = LockedFlag()
            let timer = DispatchWorkItem {
                timedOut.set()
                process.terminate()
            }
            let (seconds, attos) = timeout.components
            DispatchQueue.global().asyncAfter(deadline: .now() + Double(seconds) + Double(attos) / 1e18, execute: timer)
            // stderr is drained on another thread so neither pipe can fill up and block the child.
            let errData = LockedData()
            let errReader = Thread { errData.set(err.fileHandleForReading.readDataToEndOfFile()) }
            errReader.start()
            var output = [UInt8]()
            while true {
                let chunk = out.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                if output.count < maxOutputBytes { output.append(contentsOf: chunk.prefix(maxOutputBytes - output.count)) }
            }
            process.waitUntilExit()
            timer.cancel()
            let stderrText = String(decoding: errData.waitForValue(), as: UTF8.self)
            return Result(status: process.terminationStatus, output: output, errorOutput: stderrText, timedOut: timedOut.isSet)
        }
    }
}

/// A flag set from a timer thread.
final class LockedFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// Data handed from a reader thread: `waitForValue` blocks (on the subprocess's dedicated thread)
/// until `set`.
final class LockedData: Sendable {
    private let data = Mutex<Data?>(nil)
    private let ready = DispatchSemaphore(value: 0)
    func set(_ d: Data) {
        data.withLock { $0 = d }
        ready.signal()
    }
    func waitForValue() -> Data {
        ready.wait()
        return data.withLock { $0 ?? Data() }
    }
}
