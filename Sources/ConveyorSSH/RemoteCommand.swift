import ConveyorModel
import Foundation

/// The shell text sent to the server. Assumes a POSIX shell and util-linux `setsid` on the host.
enum RemoteCommand {
    /// Single-quotes `text` for a POSIX shell, byte by byte (the project's one quoting, `ShellQuoting`).
    static func quote(_ text: String) throws(ShellQuotingError) -> String {
        try ShellQuoting.singleQuoted(text)
    }

    /// A fresh remote path for a run's process-group id.
    static func newPidFile() -> String {
        "/tmp/conveyor-run-\(UUID().uuidString.lowercased()).pgid"
    }

    /// Runs `command` with `sh -c` as the leader of a new session (so its whole process group can be
    /// signalled), after writing that group's id to `pidFile`. `setsid -w` passes the exit status
    /// on; the outer shell removes the file afterwards.
    static func wrapped(_ command: String, pidFile: String) throws(ShellQuotingError) -> String {
        let inner = #"echo $$ > "$0" && exec /bin/sh -c "$1""#
        let file = try quote(pidFile)
        return "setsid -w /bin/sh -c \(try quote(inner)) \(file) \(try quote(command)); s=$?; rm -f \(file); exit $s"
    }

    /// Writes stdin to `path` with permissions `mode`.
    static func upload(to path: String, mode: Int32) throws(ShellQuotingError) -> String {
        let octal = String(mode, radix: 8)
        return "umask 077 && cat > \(try quote(path)) && chmod \(octal) \(try quote(path))"
    }

    /// SIGTERM to the group in `pidFile` (waiting up to 2 s for the file), SIGKILL 2 s later if any
    /// member is left (zombies don't count: a container's init may never reap them), then removes
    /// the file.
    static func terminate(pidFile: String) throws(ShellQuotingError) -> String {
        let file = try quote(pidFile)
        return """
        f=\(file); i=0
        while [ ! -s "$f" ] && [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done
        [ -s "$f" ] || exit 0
        g=$(cat "$f")
        kill -TERM -"$g" 2>/dev/null || { rm -f "$f"; exit 0; }
        i=0
        alive() { ps -eo pgid=,stat= | awk -v g="$g" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }'; }
        while alive && [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done
        kill -KILL -"$g" 2>/dev/null
        rm -f "$f"
        exit 0
        """
    }

    /// Removes a finished run's pid file.
    static func cleanup(pidFile: String) throws(ShellQuotingError) -> String { "rm -f \(try quote(pidFile))" }
}
