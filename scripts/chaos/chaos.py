#!/usr/bin/env python3
"""Conveyor chaos suite (issue 7): kills, pauses and restarts nodes, Redis and PostgreSQL while real
builds run, and checks the cluster's invariants after each fault. Python 3 standard library only.

It runs its own Redis (AOF) and PostgreSQL cluster on free loopback ports under a temp directory, so
restarting them never disturbs anything else, and a fresh key prefix. Environment:
  CONVEYOR_CHAOS_BIN   conveyor binary (default .build/debug/conveyor)
  CONVEYOR_CHAOS_KEEP  keep the temp directory (node logs) when set
  CONVEYOR_CHAOS_FAULTS comma-separated subset of the faults to inject
"""
import json, os, re, random, shutil, signal, socket, subprocess, sys, tempfile, threading, time, glob
import urllib.request, urllib.error

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("CONVEYOR_CHAOS_BIN", os.path.join(ROOT, ".build/debug/conveyor"))
LEASE = 4
FINAL_BOUND = 90          # seconds after a fault within which every build must be final
TOKEN = "chaos-token-%d" % random.randrange(1 << 30)
PREFIX = "chaos%d" % random.randrange(1 << 30)
IS_ROOT = os.getuid() == 0
FINAL_BUILD = {"passed", "failed", "errored", "canceled"}
START = time.time()
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def log(msg):
    print("[%6.1fs] %s" % (time.time() - START, msg), flush=True)


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


# ---------------------------------------------------------------- Redis (RESP over a socket)
class Redis:
    def __init__(self, port):
        self.port, self.sock, self.buf = port, None, b""

    def _connect(self):
        # `port` may be a callable: the current master's, behind Sentinel (scripts/chaos/failover.py).
        port = self.port() if callable(self.port) else self.port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d: raise ConnectionError("redis closed")
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            d = self.sock.recv(65536)
            if not d: raise ConnectionError("redis closed")
            self.buf += d
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line(); t, rest = line[:1], line[1:]
        if t == b"+": return rest.decode()
        if t == b"-": raise RuntimeError(rest.decode())
        if t == b":": return int(rest)
        if t == b"$":
            n = int(rest); return None if n < 0 else self._exact(n).decode("utf-8", "replace")
        if t == b"*":
            n = int(rest); return None if n < 0 else [self._reply() for _ in range(n)]
        raise RuntimeError("bad reply %r" % line)

    def cmd(self, *args):
        for attempt in range(2):
            try:
                if self.sock is None: self._connect()
                out = b"*%d\r\n" % len(args)
                for a in args:
                    a = str(a).encode(); out += b"$%d\r\n%s\r\n" % (len(a), a)
                self.sock.sendall(out)
                return self._reply()
            except (OSError, ConnectionError):
                self.sock = None
                if attempt: raise


# ---------------------------------------------------------------- processes
class Cluster:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="conveyor-chaos-")
        os.chmod(self.tmp, 0o755)
        self.redis_port, self.pg_port = free_port(), free_port()
        self.pg_bin = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
        self.pgdata = os.path.join(self.tmp, "pg")
        self.nodes = {}    # name -> dict(roles, port, proc, env)
        self.redis = None

    # Redis
    def start_redis(self):
        d = os.path.join(self.tmp, "redis"); os.makedirs(d, exist_ok=True)
        subprocess.run(["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--dir", d,
                        "--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction",
                        "--save", "", "--daemonize", "yes", "--pidfile", d + "/redis.pid", "--logfile", d + "/redis.log"], check=True)
        for _ in range(100):
            if subprocess.run(["redis-cli", "-p", str(self.redis_port), "ping"], capture_output=True).returncode == 0: return
            time.sleep(0.1)
        raise RuntimeError("private redis did not start")

    def stop_redis(self):
        subprocess.run(["redis-cli", "-p", str(self.redis_port), "shutdown"], capture_output=True)
        for _ in range(100):
            if subprocess.run(["redis-cli", "-p", str(self.redis_port), "ping"], capture_output=True).returncode != 0: return
            time.sleep(0.1)

    # PostgreSQL
    def as_pg(self, args, **kw):
        if IS_ROOT: args = ["runuser", "-u", "postgres", "--"] + args
        return subprocess.run(args, **kw)

    def start_pg(self):
        os.makedirs(self.pgdata, exist_ok=True)
        if IS_ROOT: shutil.chown(self.pgdata, "postgres", "postgres")
        os.chmod(self.pgdata, 0o700)
        r = self.as_pg([self.pg_bin + "/initdb", "-D", self.pgdata, "-U", "conveyor", "--auth=trust", "--encoding=UTF8",
                        "--locale=C.UTF-8"], capture_output=True, text=True)
        if r.returncode: raise RuntimeError("initdb failed: " + r.stdout + r.stderr)
        self.pg_ctl("start")
        subprocess.run([self.pg_bin + "/createdb", "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "conveyor", "conveyor"], check=True)

    def pg_ctl(self, action):
        opts = "-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories='%s' -c max_connections=300 -c fsync=on -c synchronous_commit=off" % (self.pg_port, self.pgdata)
        args = [self.pg_bin + "/pg_ctl", "-D", self.pgdata, "-l", self.pgdata + "/server.log", "-w", "-t", "60"]
        if action != "stop": args += ["-o", opts]
        args += ["-m", "fast", action] if action != "start" else [action]
        self.as_pg(args, check=True, capture_output=True)

    def sql(self, q):
        r = subprocess.run([self.pg_bin + "/psql", "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "conveyor", "-d", "conveyor",
                            "-v", "ON_ERROR_STOP=1", "-XtAF", "\t", "-c", q], capture_output=True, text=True, timeout=30)
        if r.returncode: raise RuntimeError("psql: " + r.stderr.strip())
        return [l.split("\t") for l in r.stdout.splitlines() if l]

    # nodes
    def add_node(self, name, roles, web):
        port = free_port()
        env = dict(os.environ)
        env.update({
            "CONVEYOR_REDIS_URL": "redis://127.0.0.1:%d/0" % self.redis_port,
            "CONVEYOR_POSTGRES_URL": "postgres://conveyor@127.0.0.1:%d/conveyor" % self.pg_port,
            "CONVEYOR_KEY_PREFIX": PREFIX, "CONVEYOR_NODE_ID": name, "CONVEYOR_ROLES": roles,
            "CONVEYOR_HTTP_HOST": "127.0.0.1", "CONVEYOR_LEASE_SECONDS": str(LEASE),
            "CONVEYOR_SWEEP_INTERVAL_SECONDS": "1", "CONVEYOR_AGGREGATION_DELAY_SECONDS": "1",
            "CONVEYOR_WORKER_SLOTS": "2", "CONVEYOR_API_TOKEN": TOKEN, "CONVEYOR_EVENTS_MAX_LENGTH": "10000000",
            "CONVEYOR_WORK_DIRECTORY": os.path.join(self.tmp, "work-" + name),
            "CONVEYOR_SANDBOX": os.environ.get("CONVEYOR_CHAOS_SANDBOX", "bwrap"),
            "CONVEYOR_DEFAULT_OWNER_LIMIT": "2",
        })
        env["CONVEYOR_HTTP_PORT" if web else "CONVEYOR_METRICS_PORT"] = str(port)
        self.nodes[name] = {"roles": roles, "port": port, "env": env, "proc": None, "web": web}

    def start_node(self, name):
        n = self.nodes[name]
        out = open(os.path.join(self.tmp, name + ".log"), "ab")
        n["proc"] = subprocess.Popen([BIN, "node"], env=n["env"], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()

    def wait_ready(self, name, timeout=60):
        n = self.nodes[name]; deadline = time.time() + timeout
        while time.time() < deadline:
            if n["proc"].poll() is not None: raise RuntimeError("%s exited; see %s/%s.log" % (name, self.tmp, name))
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % n["port"], timeout=2) as r:
                    if r.status == 200: return
            except Exception: pass
            time.sleep(0.2)
        raise RuntimeError("%s not ready; see %s/%s.log" % (name, self.tmp, name))

    def tree(self, pid):
        """pid and all its descendants."""
        kids = {}
        for d in os.listdir("/proc"):
            if not d.isdigit(): continue
            try:
                with open("/proc/%s/stat" % d) as f: s = f.read()
                ppid = int(s[s.rindex(")") + 2:].split()[1])
                kids.setdefault(ppid, []).append(int(d))
            except Exception: pass
        out, todo = [], [pid]
        while todo:
            p = todo.pop(); out.append(p); todo += kids.get(p, [])
        return out

    def kill_node(self, name):
        p = self.nodes[name]["proc"]
        os.kill(p.pid, signal.SIGKILL); p.wait()

    def shutdown(self):
        for n in self.nodes.values():
            p = n["proc"]
            if p and p.poll() is None:
                for pid in self.tree(p.pid):
                    try: os.kill(pid, signal.SIGCONT)
                    except OSError: pass
                try: os.killpg(p.pid, signal.SIGKILL)
                except OSError: pass
                try: p.wait(timeout=5)
                except Exception: pass
        try: self.stop_redis()
        except Exception: pass
        try: self.pg_ctl("stop")
        except Exception: pass
        if os.environ.get("CONVEYOR_CHAOS_KEEP"):
            log("kept %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


# ---------------------------------------------------------------- API
def api(port, method, path, body=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, method=method,
                                 headers={"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, dict(r.headers), r.read()


# ---------------------------------------------------------------- the suite
OWNERS = {"alpha": 1, "beta": 2, "gamma": 1, "delta": 2}
CONFIGS = {
    # sleepers
    "alpha": "language: shell\nenv:\n  jobs:\n    - SLEEP=6\n    - SLEEP=4\nscript:\n  - echo start $CONVEYOR_JOB_ID\n  - sleep $SLEEP\n  - echo slept $SLEEP\n",
    # printers: 50000 lines, each must arrive complete and in order
    "beta": "language: shell\nenv:\n  jobs:\n    - PRINT=50000\n    - PRINT=30000\nscript:\n  - sleep 2\n  - for i in 1 2 3; do seq 1 $PRINT | sed \"s/^/p$i-/\"; sleep 1; done\n",
    "gamma": "language: shell\nenv:\n  jobs:\n    - SLEEP=8\n    - SLEEP=3\nscript:\n  - sleep $SLEEP\n  - seq 1 2000\n",
    "delta": "language: shell\nenv:\n  jobs:\n    - SLEEP=5 PRINT=20000\n    - SLEEP=7 PRINT=5000\n    - SLEEP=3 PRINT=100\nscript:\n  - seq 1 $PRINT | sed 's/^/d-/'\n  - sleep $SLEEP\n  - seq 1 $PRINT | sed 's/^/e-/'\n",
}


class Suite:
    def __init__(self, c):
        self.c = c
        self.r = Redis(c.redis_port)
        self.passed = self.failed = 0
        self.rows = []
        self.violations = []      # of the current phase
        self.sampling = False
        self.sample_lock = threading.Lock()
        self.events_cursor = "0-0"
        self.finished_counts = {}
        self.repos = {}
        self.paused = None
        self.fenced = set()

    def web_port(self):
        for name in ("node-a", "node-b"):
            n = self.c.nodes[name]
            if n["proc"] and n["proc"].poll() is None and not n.get("stopped"): return n["port"]
        raise RuntimeError("no live web node")

    def violate(self, msg):
        with self.sample_lock:
            if len(self.violations) < 200: self.violations.append(msg)

    # -- setup
    def make_repos(self):
        for owner, cfg in CONFIGS.items():
            d = os.path.join(self.c.tmp, "repos", owner, "ci")
            os.makedirs(d)
            git = lambda *a: subprocess.run(["git", "-C", d, "-c", "user.name=chaos", "-c", "user.email=chaos@example.invalid"] + list(a),
                                            check=True, capture_output=True)
            git("init", "-q", "-b", "main")
            with open(os.path.join(d, ".conveyor.yml"), "w") as f: f.write(cfg)
            git("add", "."); git("commit", "-qm", "chaos")
            self.repos[owner] = "file://" + d
        vals = ",".join("('%s', %d)" % (o, l) for o, l in OWNERS.items())
        self.c.sql("INSERT INTO owners (login, concurrency_limit) VALUES %s ON CONFLICT (login) DO UPDATE SET concurrency_limit = EXCLUDED.concurrency_limit" % vals)

    def submit(self, owner):
        for attempt in range(20):
            try:
                _, _, body = api(self.web_port(), "POST", "/api/v1/repos/%s/ci/requests" % owner, {"branch": "main", "url": self.repos[owner]})
                return int(json.loads(body)["request"])
            except Exception as e:
                last = e; time.sleep(0.5)
        raise RuntimeError("submit failed: %s" % last)

    def builds_of(self, requests):
        ids = ",".join(map(str, requests))
        return {int(r[0]): r[1] for r in self.c.sql("SELECT b.id, b.state FROM builds b WHERE b.request_id IN (%s)" % ids)}

    # -- background sampler: owner limits (Redis and Postgres) and concurrent attempts (processes)
    def sampler(self):
        r = Redis(lambda: self.c.redis_port)
        pg_next = 0
        while self.sampling:
            t0 = time.time()
            try:
                for owner, limit in OWNERS.items():
                    n = r.cmd("ZCARD", "%s:owner:{%s}:running" % (PREFIX, owner))
                    if n > limit: self.violate("limit: Redis holds %d slots of %s (limit %d)" % (n, owner, limit))
            except Exception: pass
            if t0 >= pg_next:
                pg_next = t0 + 0.3
                try:
                    active = {}
                    for owner, job, attempt, state in self.c.sql(
                            "SELECT o.login, j.id, j.attempt, j.state FROM jobs j JOIN owners o ON o.id = j.owner_id "
                            "WHERE j.state IN ('queued','received','started') ORDER BY j.id"):
                        active.setdefault(owner, []).append((int(job), int(attempt), state))
                    for owner, jobs in active.items():
                        limit = OWNERS.get(owner, 2)
                        if len(jobs) <= limit: continue
                        try: lagging = self.ended_unrecorded(r, owner, jobs)
                        except Exception: lagging = []   # no evidence read: every active job counts
                        if len(jobs) - len(lagging) > limit:
                            self.violate("limit: Postgres has %d active jobs of %s (limit %d): %s%s" % (
                                len(jobs), owner, limit, " ".join("%d/%d:%s" % j for j in jobs),
                                "; ended, not yet recorded: %s" % sorted(lagging) if lagging else ""))
                except Exception: pass
            self.scan_attempts()
            time.sleep(max(0, 0.1 - (time.time() - t0)))

    def ended_unrecorded(self, r, owner, jobs):
        """Of `jobs` ((id, attempt, state), active in PostgreSQL), those that are active only in the record.

        PostgreSQL is written by the hub, so it lags what happened. A worker that finishes a job puts
        `finished` on cv:state, acknowledges its queue entry and stops renewing the slot's lease; if the hub
        that read that update dies before committing it, the update waits in the dead consumer's pending
        list until a live hub claims it (idle past the lease, on its 5 s pending pass: 4 to ~11 s here),
        while the slot's lease lapses 2 x lease after the last renewal (admit.lua drops it) and the
        scheduler rightly admits the next job. For those seconds PostgreSQL shows one job more than run.
        A job counts as ended, not running, only when all of these hold at once:
          - cv:state holds a `finished` or `reset` of the job's current attempt (its end was reported and
            is waiting for a hub; an applied update would have changed the row's state or attempt);
          - the job holds no slot in Redis (otherwise the Redis check above counts it);
          - no process of that attempt runs on any node (scan_attempts).
        Anything else active in PostgreSQL still counts against the limit."""
        ended = set()
        page_from = "-"
        while True:
            page = r.cmd("XRANGE", PREFIX + ":state", page_from, "+", "COUNT", 1000)
            if not page: break
            for eid, fields in page:
                f = dict(zip(fields[::2], fields[1::2]))
                if f.get("kind") in ("finished", "reset"):
                    try: ended.add((int(f["job"]), int(f["attempt"])))
                    except (KeyError, ValueError): pass
            if len(page) < 1000: break
            page_from = "(" + page[-1][0]
        running = self.scan_attempts()
        out = []
        for job, attempt, _ in jobs:
            if (job, attempt) not in ended: continue
            if r.cmd("ZSCORE", "%s:owner:{%s}:running" % (PREFIX, owner), job) is not None: continue
            if str(attempt) in running.get(str(job), {}): continue
            out.append(job)
        return out

    def scan_attempts(self):
        """Job processes of this suite now running (not stopped): {job: {attempt: node}}."""
        running = {}
        for d in os.listdir("/proc"):
            if not d.isdigit(): continue
            try:
                with open("/proc/%s/stat" % d) as f: s = f.read()
                comm = s[s.index("(") + 1:s.rindex(")")]
                state = s[s.rindex(")") + 2]
                if comm not in ("bash", "sleep", "seq", "sed") or state in "TtZ": continue
                cwd = os.readlink("/proc/%s/cwd" % d)
                if not cwd.startswith(self.c.tmp + "/work-"): continue
                with open("/proc/%s/environ" % d, "rb") as f: env = f.read().split(b"\0")
            except Exception: continue
            job = att = None
            for kv in env:
                if kv.startswith(b"CONVEYOR_JOB_ID="): job = kv[16:].decode()
                elif kv.startswith(b"CONVEYOR_ATTEMPT="): att = kv[17:].decode()
            if job and att:
                node = cwd[len(self.c.tmp + "/work-"):].split("/")[0]
                running.setdefault(job, {})[att] = node
        for job, atts in running.items():
            if len(atts) < 2: continue
            if self.paused and self.paused in atts.values():
                # The paused node's children keep running: its attempt is fenced (renewal fails, updates are stale).
                with self.sample_lock: self.fenced.add(job)
                continue
            self.violate("job %s runs attempts %s at the same time" % (job, sorted(atts.items())))
        return running

    # -- waiting and checks
    def wait_final(self, requests, since):
        deadline = since + LEASE + FINAL_BOUND
        while time.time() < deadline:
            try:
                b = self.builds_of(requests)
                if len(b) == len(requests) and all(s in FINAL_BUILD for s in b.values()): return b, True
            except Exception: pass
            time.sleep(0.5)
        try: b = self.builds_of(requests)
        except Exception: b = {}
        return b, False

    def check(self, name, ok, detail=""):
        if ok: self.passed += 1
        else:
            self.failed += 1; self.violate("%s: %s" % (name, detail))

    def scan_events(self):
        while True:
            page = self.r.cmd("XRANGE", PREFIX + ":events", "(" + self.events_cursor, "+", "COUNT", 2000)
            if not page: return
            for eid, fields in page:
                self.events_cursor = eid
                f = dict(zip(fields[::2], fields[1::2]))
                if f.get("type") in ("build:finished", "build:canceled"):
                    try: b = json.loads(f.get("data", "{}"))["build"]
                    except Exception: continue
                    self.finished_counts[b] = self.finished_counts.get(b, 0) + 1

    def pending_of(self, consumer):
        """Entries pending to one consumer, per stream/group."""
        out = {}
        for st in ("state", "logs", "requests", "scheduler"):
            key = PREFIX + ":" + st
            try: groups = self.r.cmd("XINFO", "GROUPS", key)
            except RuntimeError: continue
            for g in groups:
                g = dict(zip(g[::2], g[1::2]))
                for cons in self.r.cmd("XINFO", "CONSUMERS", key, g["name"]):
                    cons = dict(zip(cons[::2], cons[1::2]))
                    if cons.get("name") == consumer and int(cons.get("pending", 0)):
                        out["%s/%s" % (st, g["name"])] = int(cons["pending"])
        return out

    def pending_total(self):
        streams = [PREFIX + ":" + s for s in ("requests", "scheduler", "state", "logs")]
        cursor = "0"
        while True:
            cursor, keys = self.r.cmd("SCAN", cursor, "MATCH", PREFIX + ":queue:*", "COUNT", 1000)
            streams += keys
            if cursor == "0": break
        stuck = {}
        for s in streams:
            try: groups = self.r.cmd("XINFO", "GROUPS", s)
            except RuntimeError: continue
            for g in groups:
                g = dict(zip(g[::2], g[1::2]))
                if int(g.get("pending", 0)): stuck["%s/%s" % (s, g["name"])] = int(g["pending"])
        return stuck

    def check_logs(self, jobs):
        bad = []
        for job, attempt in jobs:
            ok, why, tries = False, "no log", 0
            while tries < 30:
                tries += 1
                try:
                    _, headers, body = api(self.web_port(), "GET", "/api/v1/jobs/%d/log" % job)
                    h = {k.lower(): v for k, v in headers.items()}
                    text = body.decode("utf-8", "replace")
                    lines = [ANSI.sub("", l) for l in text.splitlines()]
                    if h.get("x-log-complete") != "true": why = "log not complete"
                    elif h.get("x-log-attempt") != str(attempt): why = "log of attempt %s, job at attempt %d" % (h.get("x-log-attempt"), attempt)
                    elif not any("Done. Your build exited with" in l for l in lines[-5:]): why = "log does not end with the exit line"
                    else:
                        why = ordered(lines)
                        if why is None: ok = True; break
                        with open(os.path.join(self.c.tmp, "log-%d.txt" % job), "w") as f: f.write(text)
                        tries += 5
                except Exception as e: why = "log read: %s" % e
                time.sleep(0.5)
            if not ok: bad.append("job %d: %s" % (job, why))
        return bad

    def phase(self, fault, owners, inject):
        log("== %s" % fault)
        self.violations = []
        requests = [self.submit(o) for o in owners]
        self.sampling = True
        t = threading.Thread(target=self.sampler, daemon=True); t.start()
        info = {}
        try:
            fault_at = inject(requests, info)
        except Exception as e:
            self.violate("fault injection failed: %s" % e); fault_at = time.time()
        builds, all_final = self.wait_final(requests, fault_at)
        self.check("final", all_final, "builds not final within lease+%ds: %s" % (FINAL_BOUND, {b: s for b, s in builds.items() if s not in FINAL_BUILD}))
        time.sleep(LEASE)   # let acks and slot releases settle
        self.sampling = False; t.join()
        ids = ",".join(map(str, builds)) or "0"
        jobs = [(int(a), int(b), c) for a, b, c in self.c.sql("SELECT id, attempt, state FROM jobs WHERE build_id IN (%s) ORDER BY id" % ids)]
        # exactly one build:finished (or build:canceled) per build
        try:
            self.scan_events()
            wrong = {b: self.finished_counts.get(b, 0) for b in builds if self.finished_counts.get(b, 0) != 1}
            self.check("finished-once", not wrong, "build:finished count per build %s" % wrong)
        except Exception as e: self.check("finished-once", False, str(e))
        # attempts: applied events never go back to an older attempt; a new attempt is received only after the old one ended
        seq_bad = []
        for job, atts in self.c.sql("SELECT job_id, string_agg(attempt::text || ':' || kind, ',' ORDER BY id) FROM job_events WHERE applied "
                                    "AND job_id IN (SELECT id FROM jobs WHERE build_id IN (%s)) GROUP BY job_id" % ids):
            prev, ended = 0, True
            for item in atts.split(","):
                a, kind = item.split(":"); a = int(a)
                if a < prev: seq_bad.append("job %s applied %s after attempt %d" % (job, item, prev))
                if a > prev and kind in ("received", "started") and prev and not ended: seq_bad.append("job %s attempt %d %s before attempt %d ended" % (job, a, kind, prev))
                if a > prev: ended = False
                prev = max(prev, a)
                if kind in ("reset", "finished", "cancel", "restart"): ended = True
        self.check("attempts", not seq_bad, "; ".join(seq_bad[:5]))
        # the final attempt's log is complete and ordered (jobs that ran a script)
        ran = [(j, a) for j, a, s in jobs if s in ("passed", "failed")]
        bad = self.check_logs(ran)
        self.check("logs", not bad, "; ".join(bad[:5]))
        # no entry stuck in a pending entries list
        stuck = {}
        for _ in range(20):
            try:
                stuck = self.pending_total()
                if not stuck: break
            except Exception as e: stuck = {"error": str(e)}
            time.sleep(0.5)
        self.check("pending", not stuck, "stuck pending entries %s" % stuck)
        # sampled invariants
        sampled = [v for v in self.violations if v.startswith("limit") or "same time" in v]
        self.check("limits+overlap", not sampled, "")
        extra = info.get("check")
        if extra:
            try: extra()
            except Exception as e: self.check("fault-specific", False, "check failed: %s" % e)
        dead = [n for n, v in self.c.nodes.items() if v["proc"].poll() is not None]
        self.check("nodes-alive", not dead, "nodes exited on their own: %s (see their logs)" % dead)
        states = {}
        for _, _, s in jobs: states[s] = states.get(s, 0) + 1
        reclaim = info.get("reclaim")
        row = (fault, len(jobs), "%.1fs" % reclaim if reclaim is not None else "-", len(self.violations), " ".join("%s=%d" % kv for kv in sorted(states.items())))
        self.rows.append(row)
        for v in self.violations[:10]: log("  VIOLATION %s" % v)
        log("   %s: %d jobs, reclaim %s, %d violations, %s" % row)

    def audit(self):
        """After every fault: the whole run's builds, events and pending lists once more."""
        log("== audit of the whole run")
        self.violations = []
        builds = {int(b): st for b, st in self.c.sql("SELECT id, state FROM builds")}
        self.check("audit-final", all(st in FINAL_BUILD for st in builds.values()), "builds not final: %s" %
                   {b: st for b, st in builds.items() if st not in FINAL_BUILD})
        self.events_cursor, self.finished_counts = "0-0", {}
        self.scan_events()
        wrong = {b: self.finished_counts.get(b, 0) for b in builds if self.finished_counts.get(b, 0) != 1}
        self.check("audit-finished-once", not wrong, "build:finished count per build %s" % wrong)
        active = self.c.sql("SELECT count(*) FROM jobs WHERE state IN ('created','queued','received','started')")[0][0]
        slots = sum(self.r.cmd("ZCARD", "%s:owner:{%s}:running" % (PREFIX, o)) for o in OWNERS)
        self.check("audit-no-leftovers", int(active) == 0 and slots == 0, "%s active jobs, %d slots held" % (active, slots))
        stuck = self.pending_total()
        self.check("audit-pending", not stuck, "stuck pending entries %s" % stuck)
        jobs = int(self.c.sql("SELECT count(*) FROM jobs")[0][0])
        self.rows.append(("(whole run)", jobs, "-", len(self.violations), ""))
        for v in self.violations[:10]: log("  VIOLATION %s" % v)

    # -- helpers for faults
    def jobs_running_on(self, requests, node, want=1, timeout=40, states=("started",)):
        deadline = time.time() + timeout
        ids = ",".join(map(str, requests))
        while time.time() < deadline:
            try:
                rows = self.c.sql("SELECT j.id, j.attempt FROM jobs j JOIN builds b ON b.id = j.build_id WHERE b.request_id IN (%s) "
                                  "AND j.state IN (%s) AND j.worker LIKE '%s'" % (ids, ",".join("'%s'" % x for x in states), node or "%"))
                if len(rows) >= want: return [(int(a), int(b)) for a, b in rows]
            except Exception: pass
            time.sleep(0.2)
        raise RuntimeError("no job %s on %s within %ds" % ("/".join(states), node, timeout))

    def victims_now(self, requests, node, before):
        """The jobs `node` holds at the moment of the fault (those seen just before, if the query finds none)."""
        try: return self.jobs_running_on(requests, node, timeout=2, states=("received", "started"))
        except Exception: return before

    def reclaim_time(self, victims, since, timeout=LEASE + 40):
        """Seconds from `since` until every victim job's next attempt is received (or the job is final).
        A worker sends received then started, but two hub consumers may apply them in either order (the
        later-applied one is then ignored), so the first of either counts."""
        deadline = time.time() + timeout
        worst = None
        while time.time() < deadline:
            worst, done = 0.0, True
            for job, attempt in victims:
                rows = self.c.sql("SELECT extract(epoch from min(created_at)) FROM job_events WHERE job_id = %d AND attempt > %d "
                                  "AND kind IN ('received', 'started')" % (job, attempt))
                if rows and rows[0][0]: worst = max(worst, float(rows[0][0]) - since)
                else:
                    st = self.c.sql("SELECT state FROM jobs WHERE id = %d" % job)[0][0]
                    if st not in ("passed", "failed", "errored", "canceled"): done = False
            if done: return worst
            time.sleep(0.3)
        return None

    def restart_node(self, name):
        self.c.start_node(name); self.c.wait_ready(name)


def ordered(lines):
    """Every `seq` run in the log is complete and in order: lines with a given prefix count 1, 2, 3… ."""
    counters = {}
    for l in lines:
        if "-" not in l: continue
        p, _, n = l.partition("-")
        if p not in ("p1", "p2", "p3", "d", "e") or not n.isdigit(): continue
        n = int(n)
        if n != counters.get(p, 0) + 1: return "line %s-%d follows %s-%d" % (p, n, p, counters.get(p, 0))
        counters[p] = n
    return None


def report(s):
    """Prints a suite's table and closing line; the exit status (1 when anything failed)."""
    if s is None:
        s = type("S", (), {"rows": [], "passed": 0, "failed": 1})()
    print()
    print("%-18s %6s %14s %11s  %s" % ("fault", "jobs", "max reclaim", "violations", "final job states"))
    for row in s.rows:
        print("%-18s %6d %14s %11d  %s" % row)
    print("chaos: %d passed, %d failed" % (s.passed, s.failed))
    return 1 if s.failed else 0


def main():
    if not os.access(BIN, os.X_OK):
        print("chaos: %s not found; build it first" % BIN, file=sys.stderr); return 2
    c = Cluster()
    s = None

    def on_signal(sig, _):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    try:
        log("temp %s, prefix %s, redis :%d, postgres :%d" % (c.tmp, PREFIX, c.redis_port, c.pg_port))
        c.start_redis(); c.start_pg()
        c.add_node("node-a", "all", True)
        c.add_node("node-b", "web,gatekeeper,scheduler,hub,logs,reaper,worker", True)
        c.add_node("node-c", "worker", False)
        c.start_node("node-a"); c.wait_ready("node-a")
        c.start_node("node-b"); c.start_node("node-c")
        c.wait_ready("node-b"); c.wait_ready("node-c")
        s = Suite(c)
        s.make_repos()
        faults = os.environ.get("CONVEYOR_CHAOS_FAULTS", "baseline,kill-worker,kill-hub-logs,stop-node,restart-redis,restart-postgres").split(",")

        def baseline(reqs, info):
            return time.time()

        def kill_worker(reqs, info):
            victims = s.jobs_running_on(reqs, "node-c")
            time.sleep(1)
            t = time.time(); c.kill_node("node-c")
            victims = s.victims_now(reqs, "node-c", victims)
            log("   SIGKILL node-c (running %s)" % victims)
            # the reaper, not the restarted node, must hand the jobs over: restart only after the reclaim
            info["reclaim"] = s.reclaim_time(victims, t)
            s.restart_node("node-c"); log("   node-c restarted")
            return t

        def kill_hub_logs(reqs, info):
            # node-b runs hub and logs; kill it while the printers stream
            victims = s.jobs_running_on(reqs, "node-b")
            time.sleep(2.5)
            # strike while node-b holds hub or logs entries it has read and not yet acknowledged
            # (freeze it the moment it does, then kill it frozen: the same as a kill at that instant)
            pid, held, until = c.nodes["node-b"]["proc"].pid, {}, time.time() + 8
            want = lambda p: p and (time.time() > until - 4 or any(k.startswith("state/") for k in p))  # a hub entry first
            while time.time() < until:
                if want(s.pending_of("node-b")):
                    os.kill(pid, signal.SIGSTOP)
                    held = s.pending_of("node-b")
                    if want(held): break
                    held = {}
                    os.kill(pid, signal.SIGCONT)
                time.sleep(0.002)
            t = time.time(); c.kill_node("node-b")
            victims = s.victims_now(reqs, "node-b", victims)
            log("   SIGKILL node-b (hub, logs; running %s; pending to it: %s)" % (victims, held))
            # its entries must be claimed by node-a (reaper), not by node-b coming back: restart it late
            # A live hub/logs consumer claims entries idle past the lease on its periodic pending pass
            # (StreamConsumer: every 5 s, between blocking reads of up to 2 s): bound lease + 5 + 2 + 3 slack.
            bound = LEASE + 10
            left = held
            while time.time() < t + bound:
                left = s.pending_of("node-b")
                if not left: break
                time.sleep(0.2)
            handed = time.time() - t
            info["check"] = lambda: s.check("dead-consumer-handed-over", not left,
                                            "entries still pending to the dead node-b %.0fs after its death: %s" % (bound, left))
            log("   node-b's entries %s (%.1fs after its death)" % ("still pending: %s" % left if left else "taken over by node-a", handed))
            time.sleep(max(0, t + 2 * LEASE - time.time()))
            s.restart_node("node-b"); log("   node-b restarted")
            info["reclaim"] = s.reclaim_time(victims, t)
            return t

        def stop_node(reqs, info):
            victims = s.jobs_running_on(reqs, "node-c")
            time.sleep(1)
            pid = c.nodes["node-c"]["proc"].pid
            t = time.time()
            os.kill(pid, signal.SIGSTOP)
            c.nodes["node-c"]["stopped"] = True; s.paused = "node-c"
            victims = s.victims_now(reqs, "node-c", victims)
            log("   SIGSTOP node-c for %ds (running %s; its job processes run on)" % (2 * LEASE + 2, victims))
            time.sleep(2 * LEASE + 2)
            os.kill(pid, signal.SIGCONT); cont = time.time()
            c.nodes["node-c"]["stopped"] = False
            log("   SIGCONT node-c")
            # once it runs again, node-c must stop its old attempts (renewal fails) within lease/3 + slack
            old = {(str(j), str(a)) for j, a in victims}
            left = old
            while time.time() < cont + LEASE / 3 + 5:
                now = s.scan_attempts()
                left = {(j, a) for j, a in old if now.get(j, {}).get(a) == "node-c"}
                if not left: break
                time.sleep(0.2)
            s.paused = None
            stopped_after = time.time() - cont
            info["reclaim"] = s.reclaim_time(victims, t)
            jobs = ",".join(str(j) for j, _ in victims)
            # node-c noticed its lost lease and sent nothing more; a paused worker may also have had an
            # update in flight when it stopped: deliver one late 'finished' per old attempt, as node-c.
            own = c.sql("SELECT count(*) FROM job_events WHERE job_id IN (%s) AND NOT applied AND note LIKE '%%stale attempt%%'" % jobs)[0][0]
            for j, a in victims:
                update = {"job": j, "worker": "node-c", "event": {"kind": "finished", "attempt": a, "seq": 3, "at": int(time.time() * 1000), "result": "passed"}}
                s.r.cmd("XADD", PREFIX + ":state", "*", "job", j, "data", json.dumps(update))
            info["own_stale"] = int(own)

            def check():
                s.check("paused-attempts-stopped", not left, "old attempts %s still ran %.1fs after SIGCONT" % (sorted(left), stopped_after))
                stale = c.sql("SELECT job_id, attempt, kind, note FROM job_events WHERE job_id IN (%s) AND NOT applied AND note LIKE '%%stale attempt%%'" % jobs)
                ignored = {int(r[0]) for r in stale if r[2] == "finished"}
                s.check("late-update-stale", ignored == {j for j, _ in victims},
                        "late 'finished' of the paused attempts not recorded as ignored stale attempts: %s" % sorted({j for j, _ in victims} - ignored))
                applied_old = c.sql("SELECT count(*) FROM job_events WHERE applied AND (%s) AND created_at > to_timestamp(%f)" %
                                    (" OR ".join("(job_id = %d AND attempt = %d)" % v for v in victims), t + LEASE))
                log("   node-c's old attempts stopped %.1fs after SIGCONT; it sent %d late updates itself; ignored as stale: %d (%s); fenced overlaps: jobs %s" %
                    (stopped_after, info["own_stale"], len(stale), "; ".join("%s/%s %s: %s" % tuple(r) for r in stale[:3]), sorted(s.fenced)))
                info["stale"] = len(stale)
                s.check("stale-ignored", int(applied_old[0][0]) == 0,
                        "%s events of the paused attempts were applied after the lease lapsed" % applied_old[0][0])
            info["check"] = check
            return t

        def restart_redis(reqs, info):
            s.jobs_running_on(reqs, None, want=2)
            time.sleep(1)
            t = time.time(); c.stop_redis(); log("   Redis shut down (AOF)")
            time.sleep(2); c.start_redis(); log("   Redis restarted")
            s.r = Redis(c.redis_port)
            return t

        def restart_postgres(reqs, info):
            s.jobs_running_on(reqs, None, want=2)
            time.sleep(1)
            t = time.time(); c.pg_ctl("restart"); log("   PostgreSQL restarted (-m fast)")
            return t

        plan = {
            "baseline": (["alpha", "beta", "delta"], baseline),
            "kill-worker": (["alpha", "gamma", "delta", "beta", "alpha"], kill_worker),
            "kill-hub-logs": (["beta", "delta", "beta", "gamma"], kill_hub_logs),
            "stop-node": (["gamma", "alpha", "delta", "beta"], stop_node),
            "restart-redis": (["delta", "beta", "alpha", "gamma"], restart_redis),
            "restart-postgres": (["alpha", "beta", "delta", "gamma"], restart_postgres),
        }
        for f in faults:
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
    return report(s)


if __name__ == "__main__":
    sys.exit(main())
