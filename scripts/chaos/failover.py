#!/usr/bin/env python3
"""Conveyor chaos suite, failover scenarios (issue 24): `scripts/chaos.sh failover`.

The same three nodes, builds and invariants as chaos.py, but Redis is a master, a replica and a
Sentinel (nodes get CONVEYOR_REDIS_URL=redis+sentinel://…), and PostgreSQL a primary with a
streaming-replication standby made by `pg_basebackup -R` (nodes get a two-host URL with
target_session_attrs=read-write). Every server is private, on free loopback ports. Faults:
  flushall           FLUSHALL on the master mid-build
  redis-empty        the master SIGKILLed and restarted at once without data (no AOF, no RDB)
  sentinel-failover  the master SIGKILLed; the Sentinel promotes the replica
  pg-promote         the PostgreSQL primary stopped, the standby promoted (pg_ctl promote)
CONVEYOR_CHAOS_FAULTS picks a subset (comma-separated), as in chaos.py.
"""
import os, signal, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chaos  # noqa: E402
from chaos import BIN, FINAL_BUILD, LEASE, Cluster, Redis, Suite, free_port, log  # noqa: E402

MASTER = "cvmaster"
FAULTS = "flushall,redis-empty,sentinel-failover,pg-promote"


class FailoverCluster(Cluster):
    def __init__(self):
        super().__init__()                      # self.redis_port: the first master's port
        self.replica_port, self.sentinel_port, self.standby_port = free_port(), free_port(), free_port()
        self.primary_port = self.pg_port
        self.standby = os.path.join(self.tmp, "pg-standby")
        self.sentinel = Redis(self.sentinel_port)

    # -- Redis: master + replica + Sentinel
    @property
    def redis_port(self):
        """The master the Sentinel names now (the last one known if it cannot be asked)."""
        try:
            addr = self.sentinel.cmd("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER)
            if addr: self._master = int(addr[1])
        except Exception: pass
        return self._master

    @redis_port.setter
    def redis_port(self, port):
        self._master = port

    def redis_dir(self, port):
        return os.path.join(self.tmp, "redis-%d" % port)

    def redis_server(self, port, replicaof=None):
        d = self.redis_dir(port); os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):       # restarted empty: nothing to load
            if f.endswith(".rdb") or f.startswith("appendonly"): os.remove(os.path.join(d, f))
        args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", d, "--appendonly", "no", "--save", "",
                "--maxmemory-policy", "noeviction", "--daemonize", "yes", "--pidfile", d + "/redis.pid", "--logfile", d + "/redis.log"]
        if replicaof: args += ["--replicaof", "127.0.0.1", str(replicaof)]
        subprocess.run(args, check=True)
        self.wait(lambda: Redis(port).cmd("PING") == "PONG", "redis :%d up" % port)

    def kill_redis(self, port):
        try:
            with open(self.redis_dir(port) + "/redis.pid") as f: pid = int(f.read())
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError): return
        self.wait(lambda: not os.path.exists("/proc/%d" % pid) or open("/proc/%d/stat" % pid).read().split()[2] == "Z", "redis :%d gone" % port)

    def wait(self, cond, what, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if cond(): return
            except Exception: pass
            time.sleep(0.1)
        raise RuntimeError("timed out waiting for " + what)

    def start_redis(self):
        first, replica = self._master, self.replica_port
        self.redis_server(first)
        self.redis_server(replica, replicaof=first)
        self.wait(lambda: "master_link_status:up" in Redis(replica).cmd("INFO", "replication"), "the replica in sync")
        d = os.path.join(self.tmp, "sentinel"); os.makedirs(d, exist_ok=True)
        with open(d + "/sentinel.conf", "w") as f:
            f.write("port %d\nbind 127.0.0.1\ndir %s\n" % (self.sentinel_port, d) +
                    "sentinel monitor %s 127.0.0.1 %d 1\n" % (MASTER, first) +
                    "sentinel down-after-milliseconds %s 2000\nsentinel failover-timeout %s 6000\n" % (MASTER, MASTER))
        subprocess.run(["redis-sentinel", d + "/sentinel.conf", "--daemonize", "yes", "--pidfile", d + "/sentinel.pid",
                        "--logfile", d + "/sentinel.log"], check=True)
        self.wait(lambda: any(str(replica) in str(r) for r in self.sentinel.cmd("SENTINEL", "REPLICAS", MASTER)), "the Sentinel to see the replica")

    def stop_redis(self):
        for d in os.listdir(self.tmp):
            if d.startswith("redis-"): self.kill_redis(int(d.split("-")[1]))
        try:
            with open(os.path.join(self.tmp, "sentinel", "sentinel.pid")) as f: os.kill(int(f.read()), signal.SIGKILL)
        except (OSError, ValueError): pass

    # -- PostgreSQL: primary + standby
    def start_pg(self):
        super().start_pg()
        os.makedirs(self.standby)
        if chaos.IS_ROOT: subprocess.run(["chown", "postgres:postgres", self.standby], check=True)
        os.chmod(self.standby, 0o700)
        r = self.as_pg([self.pg_bin + "/pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary_port), "-U", "conveyor",
                        "-D", self.standby, "-R", "-X", "stream", "-c", "fast"], capture_output=True, text=True)
        if r.returncode: raise RuntimeError("pg_basebackup failed: " + r.stderr)
        self.pg_ctl_at(self.standby, self.standby_port, "start")

    def pg_ctl_at(self, data, port, action, mode="fast"):
        opts = "-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories='%s' -c max_connections=300" % (port, data)
        args = [self.pg_bin + "/pg_ctl", "-D", data, "-l", data + "/server.log", "-w", "-t", "60"]
        if action == "start": args += ["-o", opts, "start"]
        elif action == "stop": args += ["-m", mode, "stop"]
        else: args += [action]
        self.as_pg(args, check=True, capture_output=True)

    def add_node(self, name, roles, web):
        super().add_node(name, roles, web)
        self.nodes[name]["env"].update({
            "CONVEYOR_REDIS_URL": "redis+sentinel://127.0.0.1:%d/%s/0" % (self.sentinel_port, MASTER),
            "CONVEYOR_POSTGRES_URL": "postgres://conveyor@127.0.0.1:%d,127.0.0.1:%d/conveyor?target_session_attrs=read-write"
                                     % (self.primary_port, self.standby_port),
        })

    def shutdown(self):
        try: self.pg_ctl_at(self.standby, self.standby_port, "stop")
        except Exception: pass
        super().shutdown()


class FailoverSuite(Suite):
    """Redis losing its data also loses the events of builds that finished before: the whole-run
    audit counts `build:finished` only for builds that finished after the last loss (each phase
    checked its own builds right after its fault)."""
    last_loss = 0.0

    def audit(self):
        log("== audit of the whole run")
        self.violations = []
        builds = {int(b): (st, float(at or 0)) for b, st, at in self.c.sql("SELECT id, state, extract(epoch from finished_at) FROM builds")}
        self.check("audit-final", all(st in FINAL_BUILD for st, _ in builds.values()), "builds not final: %s" %
                   {b: st for b, (st, _) in builds.items() if st not in FINAL_BUILD})
        self.events_cursor, self.finished_counts = "0-0", {}
        self.scan_events()
        since = [b for b, (_, at) in builds.items() if at > self.last_loss + 1]
        wrong = {b: self.finished_counts.get(b, 0) for b in since if self.finished_counts.get(b, 0) != 1}
        self.check("audit-finished-once", not wrong, "build:finished count per build %s" % wrong)
        active = self.c.sql("SELECT count(*) FROM jobs WHERE state IN ('created','queued','received','started')")[0][0]
        slots = sum(self.r.cmd("ZCARD", "%s:owner:{%s}:running" % (chaos.PREFIX, o)) for o in chaos.OWNERS)
        self.check("audit-no-leftovers", int(active) == 0 and slots == 0, "%s active jobs, %d slots held" % (active, slots))
        stuck = self.pending_total()
        self.check("audit-pending", not stuck, "stuck pending entries %s" % stuck)
        repairs = self.c.sql("SELECT coalesce(sum(repairs), 0) FROM redis_epochs")[0][0]
        log("   Redis rebuilt from PostgreSQL %s times" % repairs)
        jobs = int(self.c.sql("SELECT count(*) FROM jobs")[0][0])
        self.rows.append(("(whole run)", jobs, "-", len(self.violations), "repairs=%s" % repairs))
        for v in self.violations[:10]: log("  VIOLATION %s" % v)


def main():
    if not os.access(BIN, os.X_OK):
        print("chaos: %s not found; build it first" % BIN, file=sys.stderr); return 2
    c = FailoverCluster()
    s = None
    def on_signal(sig, _):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    try:
        c.start_redis(); c.start_pg()
        log("temp %s, prefix %s, redis master :%d replica :%d sentinel :%d, postgres primary :%d standby :%d" %
            (c.tmp, chaos.PREFIX, c.redis_port, c.replica_port, c.sentinel_port, c.primary_port, c.standby_port))
        c.add_node("node-a", "all", True)
        c.add_node("node-b", "web,gatekeeper,scheduler,hub,logs,reaper,worker", True)
        c.add_node("node-c", "worker", False)
        c.start_node("node-a"); c.wait_ready("node-a")
        c.start_node("node-b"); c.start_node("node-c")
        c.wait_ready("node-b"); c.wait_ready("node-c")
        s = FailoverSuite(c)
        s.r = Redis(lambda: c.redis_port)
        s.make_repos()

        def strike(reqs):
            s.jobs_running_on(reqs, None, want=2)
            time.sleep(1)

        def flushall(reqs, info):
            strike(reqs)
            t = time.time(); s.r.cmd("FLUSHALL"); s.last_loss = t
            log("   FLUSHALL on the master :%d" % c.redis_port)
            return t

        def redis_empty(reqs, info):
            strike(reqs)
            port = c.redis_port
            t = time.time(); c.kill_redis(port); c.redis_server(port); s.last_loss = t
            log("   master :%d SIGKILLed and restarted empty" % port)
            return t

        def sentinel_failover(reqs, info):
            strike(reqs)
            old = c.redis_port
            t = time.time(); c.kill_redis(old)
            log("   SIGKILL of the master :%d" % old)
            c.wait(lambda: c.redis_port != old, "the Sentinel to promote the replica", timeout=60)
            s.last_loss = t
            log("   the Sentinel promoted :%d after %.1fs" % (c.redis_port, time.time() - t))
            c.redis_server(old, replicaof=c.redis_port)
            log("   old master :%d back as a replica" % old)
            return t

        def pg_promote(reqs, info):
            strike(reqs)
            t = time.time(); c.pg_ctl_at(c.pgdata, c.primary_port, "stop")
            log("   PostgreSQL primary :%d stopped" % c.primary_port)
            c.pg_ctl_at(c.standby, c.standby_port, "promote")
            c.pg_port = c.standby_port
            log("   standby :%d promoted after %.1fs" % (c.standby_port, time.time() - t))
            return t

        plan = {
            "flushall": (["alpha", "beta", "delta"], flushall),
            "redis-empty": (["delta", "beta", "alpha", "gamma"], redis_empty),
            "sentinel-failover": (["beta", "alpha", "delta", "gamma"], sentinel_failover),
            "pg-promote": (["alpha", "beta", "delta", "gamma"], pg_promote),
        }
        for f in os.environ.get("CONVEYOR_CHAOS_FAULTS", FAULTS).split(","):
            owners, inject = plan[f]
            s.phase(f, owners, inject)
        s.audit()
    except KeyboardInterrupt:
        log("interrupted")
        if s: s.failed += 1
    except Exception as e:
        log("suite error: %s" % e)
        if s: s.failed += 1
    finally:
        c.shutdown()
    return chaos.report(s)


if __name__ == "__main__":
    sys.exit(main())
