import ConveyorThreads
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `posix_spawn` with what a build needs: its own process group, stdin from /dev/null, stdout and
/// stderr both to `outputFD`, default signal dispositions (the node ignores SIGTERM and SIGPIPE for
/// its own handlers, and ignored signals survive `exec`), an empty signal mask.
/// (`posix_spawn_file_actions_addchdir_np` and `pipe2` are not visible from Swift's Glibc; callers
/// change directory in the command itself.)
enum SpawnCall {
    static func spawn(_ arguments: [String], environment: [String: String], outputFD: Int32) throws -> pid_t {
        guard let path = arguments.first else { throw ExecutorError("nothing to run") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outputFD, 1)
        posix_spawn_file_actions_adddup2(&actions, outputFD, 2)
        // Nothing else of the node's crosses into a job or its slirp4netns: not a listening socket
        // that lacks close-on-exec (a SIGKILLed node's port stayed held by its job's slirp), not
        // another job's pipe.
        addCloseFrom(&actions, lowest: 3)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGPIPE, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard rc == 0 else { throw ExecutorError("could not start \(path): \(String(cString: strerror(rc)))") }
        return pid
    }
}

/// Serializes pipe creation and spawning within this process, so that no child of ours inherits
/// another job's pipe in the moment before its descriptors are marked close-on-exec.
enum SpawnLock {
    static let lock = Mutex(())
}
