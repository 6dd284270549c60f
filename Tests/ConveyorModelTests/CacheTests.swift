import Foundation
import Testing
@testable import ConveyorModel

/// `cache:` read from configs, and the compiled cache steps run by real bash in a job directory laid
/// out as the worker lays it out (`.conveyor/cache/fetch.tgz` placed before, `store.tgz` taken after).
@Suite struct CacheTests {
    @Test func parsesTravisForms() throws {
        #expect(try expand("script: true\ncache: false").jobs[0].cache == nil)
        #expect(try expand("script: true").jobs[0].cache == nil)
        #expect(try expand("script: true\ncache: pip").jobs[0].cache?.directories == ["$HOME/.cache/pip"])
        #expect(try expand("script: true\ncache: [bundler, yarn]").jobs[0].cache?.directories == ["vendor/bundle", "$HOME/.cache/yarn"])
        let mapped = try #require(try expand("""
            script: true
            before_cache: rm -f deps/log
            cache:
              cargo: true
              pip: false
              timeout: 1000
              directories:
                - deps
                - $HOME/.m2
            """).jobs[0].cache)
        #expect(mapped.directories == ["$HOME/.cargo", "target", "deps", "$HOME/.m2"])
        #expect(mapped.timeoutSeconds == 1000)
        #expect(mapped.beforeCache == ["rm -f deps/log"])
        #expect(try expand("script: true\ncache: {directories: [a]}").jobs[0].cache?.timeoutSeconds == CacheSpec.defaultTimeoutSeconds)
        let unknown = try expand("script: true\ncache: [pip, gradle]")
        #expect(unknown.jobs[0].cache?.directories == ["$HOME/.cache/pip"])
        #expect(unknown.warnings.contains { $0.contains("unknown caching shortcut gradle") })
        for (name, dirs) in [("npm", ["node_modules", "$HOME/.npm"]), ("ccache", ["$HOME/.ccache"]), ("packages", ["$HOME/R/Library"])] {
            #expect(try expand("script: true\ncache: \(name)").jobs[0].cache?.directories == dirs)
        }
    }

    @Test func theSignatureSeparatesMatrixJobsAndHidesSecrets() throws {
        let build = try expand("""
            language: python
            python: ["3.11", "3.12"]
            env:
              - A=1
            cache: pip
            """)
        let signatures = build.jobs.map(CacheSpec.signature)
        #expect(Set(signatures).count == 2)
        #expect(signatures[0].contains("python=3.11") && signatures[0].contains("env:A=1") && signatures[0].contains("os=linux"))
        var job = build.jobs[0]
        job.env.append(EnvVar(name: "TOKEN", value: "s3cr3t-value", secure: true))
        #expect(!CacheSpec.signature(of: job).contains("s3cr3t-value"))
    }

    /// A job directory with the worker's files; runs the compiled script there.
    struct Job {
        let repo = try! ScriptRunner.makeRepository()
        var work: URL { repo.directory.appendingPathComponent("work") }
        var area: URL { work.appendingPathComponent(".conveyor/cache") }

        init() throws {
            try FileManager.default.createDirectory(at: work.appendingPathComponent(".conveyor/cache"), withIntermediateDirectories: true)
        }

        func run(_ spec: JobSpec, maxBytes: Int64 = 1 << 30, fetch: URL? = nil) throws -> ScriptRun {
            for name in ["fetch.tgz", "fetch.from", "store.tgz", "fetched.sha"] { try? FileManager.default.removeItem(at: area.appendingPathComponent(name)) }
            try? FileManager.default.removeItem(at: work.appendingPathComponent("repo"))
            if let fetch {
                try FileManager.default.copyItem(at: fetch, to: area.appendingPathComponent("fetch.tgz"))
                try "main/cache-test.tgz".write(to: area.appendingPathComponent("fetch.from"), atomically: true, encoding: .utf8)
            }
            let checkout = CheckoutSpec(repoURL: repo.url, sha: repo.second, branch: "main", depth: 50)
            let script = try ScriptCompiler.compile(job: spec, checkout: checkout, cache: CacheOptions(maxBytes: maxBytes))
            return try ScriptRunner.bash(script, in: work)
        }

        var stored: URL? {
            let url = area.appendingPathComponent("store.tgz")
            return FileManager.default.fileExists(atPath: url.path) ? url : nil
        }

        func keep(_ url: URL, as name: String) throws -> URL {
            let copy = repo.directory.appendingPathComponent(name)
            try FileManager.default.copyItem(at: url, to: copy)
            return copy
        }

        func remove() { try? FileManager.default.removeItem(at: repo.directory) }
    }

    static func cachingJob(_ script: [String], beforeCache: [String] = [], afterSuccess: [String] = ["echo after-success-ran"]) -> JobSpec {
        var job = shellJob([.script: script, .afterSuccess: afterSuccess])
        job.cache = CacheSpec(directories: ["deps", "$PWD/../../outside"], timeoutSeconds: 60, beforeCache: beforeCache)
        return job
    }

    @Test func storesThenRestoresAndSkipsAnUnchangedUpload() throws {
        let job = try Job()
        defer { job.remove() }
        let first = try job.run(Self.cachingJob(["test -f deps/built || { echo compiled > deps/built; }", "echo script-ran"],
                                                beforeCache: ["echo before-cache-ran; rm -f deps/noise"]))
        #expect(first.status == 0, "\(first.output)")
        for text in ["conveyor_fold:start:cache.1", "Setting up build cache", "could not download cache", "conveyor_fold:end:cache.1",
                     "conveyor_fold:start:before_cache.1", "conveyor_fold:start:cache.2", "store build cache",
                     "changes detected, packing new archive", "uploading archive", "conveyor_fold:end:cache.2"] {
            #expect(first.output.contains(text), "missing \(text)")
        }
        // Only directories in the job's directory: `$PWD/../../outside` (PWD is the build dir) is refused, with a line saying so.
        #expect(first.output.contains("not caching"))
        // Travis's order: script, before_cache, cache, after_success.
        let order = ["script-ran", "before-cache-ran", "store build cache", "after-success-ran"].map { first.output.range(of: $0)?.lowerBound }
        #expect(order.allSatisfy { $0 != nil } && order.compactMap { $0 } == order.compactMap { $0 }.sorted())
        let archive = try job.keep(try #require(job.stored), as: "first.tgz")

        let second = try job.run(Self.cachingJob(["cat deps/built"]), fetch: archive)
        #expect(second.status == 0, "\(second.output)")
        #expect(second.output.contains("fetching main/cache-test.tgz"))
        #expect(second.output.contains("found cache"))
        #expect(second.output.contains("compiled"))
        #expect(second.output.contains("nothing changed, not updating cache"))
        #expect(job.stored == nil)

        let third = try job.run(Self.cachingJob(["echo more >> deps/built"]), fetch: archive)
        #expect(third.output.contains("changes detected"))
        #expect(job.stored != nil)
    }

    @Test func aFailedScriptStillStoresButAnErroredSetupDoesNot() throws {
        let job = try Job()
        defer { job.remove() }
        let failed = try job.run(Self.cachingJob(["echo x > deps/f", "false"]))
        #expect(failed.status == 1)
        #expect(job.stored != nil)
        var errored = Self.cachingJob(["echo x > deps/f"])
        errored.phases[.install] = ["false"]
        let run = try job.run(errored)
        #expect(run.status == 2)
        #expect(!run.output.contains("store build cache"))
        #expect(job.stored == nil)
    }

    @Test func anOversizedCacheIsRefusedWithALineNotAFailure() throws {
        let job = try Job()
        defer { job.remove() }
        let run = try job.run(Self.cachingJob(["head -c 200000 /dev/urandom > deps/big"]), maxBytes: 1000)
        #expect(run.status == 0)
        #expect(run.output.contains("more than the 1000 this worker keeps (max_cache_bytes); not storing it"))
        #expect(job.stored == nil)
    }

    /// An archive naming `../`, absolute paths, paths outside the cached directories, and a symlink to
    /// climb through: nothing lands outside `deps` (and in the sandbox the build user could not write
    /// elsewhere anyway, docs/security.md).
    @Test func aHostileArchiveWritesNothingOutsideTheCachedDirectories() throws {
        let job = try Job()
        defer { job.remove() }
        let evil = job.repo.directory.appendingPathComponent("evil.tgz")
        let outside = job.repo.directory.appendingPathComponent("escaped")
        // It exists, so a followed `..` or symlink would land a file in it.
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        let make = try ScriptRunner.bash("""
            python3 - <<'PY'
            import io, tarfile
            def add(t, name, data=b"x", link=None):
                info = tarfile.TarInfo(name)
                if link is not None:
                    info.type, info.linkname = tarfile.SYMTYPE, link
                    t.addfile(info)
                else:
                    info.size = len(data)
                    t.addfile(info, io.BytesIO(data))
            with tarfile.open("\(evil.path)", "w:gz") as t:
                add(t, "./repo/deps/ok.txt", b"fine")
                add(t, "./repo/deps/../../../escaped/dotdot.txt")
                add(t, "\(outside.path)/absolute.txt")
                add(t, "./repo/notcached.txt")
                add(t, "./.conveyor/cache/fetched.sha", b"forged")
                add(t, "./repo/deps/link", link="\(outside.path)")
                add(t, "./repo/deps/link/through.txt")
            PY
            """, in: job.repo.directory)
        #expect(make.status == 0, "\(make.output)")
        var spec = Self.cachingJob(["cat deps/ok.txt; echo; ls -a . deps"])
        spec.cache?.directories = ["deps"]
        let run = try job.run(spec, fetch: evil)
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("fine"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside.path).isEmpty, "something was written outside the job's directory")
        #expect(!FileManager.default.fileExists(atPath: job.work.appendingPathComponent("repo/notcached.txt").path))
        #expect(!FileManager.default.fileExists(atPath: "/escaped"))
    }

    @Test func aWorkerWithoutCachesSaysSo() throws {
        var job = shellJob([.script: ["true"]])
        job.cache = CacheSpec(directories: ["deps"])
        let script = try ScriptCompiler.compile(job: job, checkout: CheckoutSpec(repoURL: "file:///nowhere", sha: "abc", branch: "main", depth: 1))
        #expect(script.contains("does not keep build caches"))
        #expect(!script.contains("cache.1"))
        #expect(!(try ScriptCompiler.compile(job: shellJob([.script: ["true"]]), checkout: CheckoutSpec(repoURL: "file:///x", sha: "a", branch: "main", depth: 1),
                                             cache: CacheOptions(maxBytes: 1))).contains("cache"))
    }
}
