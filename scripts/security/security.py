#!/usr/bin/env python3
"""Conveyor security suite (issue 18; docs/security.md). Python 3 standard library only.

One node with every role runs on a private Redis (ACL user + password) and PostgreSQL (password)
on free loopback ports, the local executor with bubblewrap, build users, cgroups and slirp4netns.
Hostile builds try what a stranger's pull request would; every attempt must fail. Bounded: the
fork bomb stops at 2,000 processes, the memory hog asks for 1 GiB, every sleep ends by itself.
Environment: CONVEYOR_SECURITY_BIN (conveyor binary), CONVEYOR_SECURITY_KEEP (keep the temp dir).
"""
import glob, json, os, random, shutil, signal, socket, subprocess, sys, tempfile, time
import urllib.request, urllib.error

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("CONVEYOR_SECURITY_BIN", os.path.join(ROOT, ".build/debug/conveyor"))
RUN = "%d" % random.randrange(1 << 30)
TOKEN = "sec-token-" + RUN
REDIS_PW = "sec-redis-" + RUN
PG_PW = "sec-pg-" + RUN
MEMORY_LIMIT = "256M"
DISK_LIMIT = "96M"
PIDS_LIMIT = 256
START = time.time()
FINAL = {"passed", "failed", "errored", "canceled"}


def log(msg):
    print("[%6.1fs] %s" % (time.time() - START, msg), flush=True)


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def own_address():
    """This host's first non-loopback IPv4 address (the node's own address a job must not reach)."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        addr = line.split()[3].split("/")[0]
        if not addr.startswith("127."): return addr
    return None


class Cluster:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="conveyor-security-")
        os.chmod(self.tmp, 0o755)   # build users clone the test repositories from here
        self.redis_port, self.pg_port, self.http_port = free_port(), free_port(), free_port()
        self.pg_bin = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
        self.pgdata = os.path.join(self.tmp, "pg")
        self.work = os.path.join(self.tmp, "work")
        self.env_file = "/etc/conveyor/security-%s.env" % RUN
        self.node = None
        self.listener = None

    def start_redis(self):
        d = os.path.join(self.tmp, "redis"); os.makedirs(d)
        subprocess.run(["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--dir", d, "--save", "",
                        "--user", "default", "off", "--user", "conveyor", "on", ">" + REDIS_PW, "~*", "&*", "+@all",
                        "--daemonize", "yes", "--pidfile", d + "/redis.pid", "--logfile", d + "/redis.log"], check=True)
        for _ in range(100):
            r = self.redis_cli("PING")
            if r.returncode == 0 and "PONG" in r.stdout: return
            time.sleep(0.1)
        raise RuntimeError("private redis did not start")

    def redis_cli(self, *args):
        return subprocess.run(["redis-cli", "-p", str(self.redis_port), "--user", "conveyor", "--pass", REDIS_PW, "--no-auth-warning"] + list(args),
                              capture_output=True, text=True)

    def as_pg(self, args, **kw):
        return subprocess.run(["runuser", "-u", "postgres", "--"] + args, **kw)

    def start_pg(self):
        os.makedirs(self.pgdata); shutil.chown(self.pgdata, "postgres", "postgres"); os.chmod(self.pgdata, 0o700)
        pwfile = os.path.join(self.tmp, "pg-password")
        with open(pwfile, "w") as f: f.write(PG_PW + "\n")
        shutil.chown(pwfile, "postgres", "postgres")
        r = self.as_pg([self.pg_bin + "/initdb", "-D", self.pgdata, "-U", "conveyor", "--auth=scram-sha-256", "--pwfile", pwfile,
                        "--encoding=UTF8", "--locale=C.UTF-8"], capture_output=True, text=True)
        if r.returncode: raise RuntimeError("initdb failed: " + r.stdout + r.stderr)
        opts = "-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories='%s'" % (self.pg_port, self.pgdata)
        self.as_pg([self.pg_bin + "/pg_ctl", "-D", self.pgdata, "-l", self.pgdata + "/server.log", "-w", "-o", opts, "start"], check=True, capture_output=True)
        subprocess.run([self.pg_bin + "/createdb", "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "conveyor", "conveyor"],
                       check=True, env=dict(os.environ, PGPASSWORD=PG_PW))

    def sql(self, q):
        r = subprocess.run([self.pg_bin + "/psql", "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "conveyor", "-d", "conveyor",
                            "-v", "ON_ERROR_STOP=1", "-XtAF", "\t", "-c", q], capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, PGPASSWORD=PG_PW))
        if r.returncode: raise RuntimeError("psql: " + r.stderr.strip())
        return [l.split("\t") for l in r.stdout.splitlines() if l]

    def start_node(self):
        # The node's secrets live in a root-only env file under /etc/conveyor, as deploy/ puts them.
        settings = {
            "CONVEYOR_REDIS_URL": "redis://conveyor:%s@127.0.0.1:%d/0" % (REDIS_PW, self.redis_port),
            "CONVEYOR_POSTGRES_URL": "postgres://conveyor:%s@127.0.0.1:%d/conveyor" % (PG_PW, self.pg_port),
            "CONVEYOR_API_TOKEN": TOKEN, "CONVEYOR_WEBHOOK_SECRET": "sec-webhook-" + RUN,
            "CONVEYOR_KEY_PREFIX": "sec" + RUN, "CONVEYOR_NODE_ID": "security-" + RUN, "CONVEYOR_ROLES": "all",
            "CONVEYOR_HTTP_HOST": "127.0.0.1", "CONVEYOR_HTTP_PORT": str(self.http_port),
            "CONVEYOR_WORKER_SLOTS": "2", "CONVEYOR_WORK_DIRECTORY": self.work, "CONVEYOR_EXECUTOR": "local",
            "CONVEYOR_SANDBOX": "bwrap", "CONVEYOR_SANDBOX_NETWORK": "true",
            "CONVEYOR_JOB_MEMORY_LIMIT": MEMORY_LIMIT, "CONVEYOR_JOB_PIDS_LIMIT": str(PIDS_LIMIT), "CONVEYOR_JOB_DISK_LIMIT": DISK_LIMIT,
            "CONVEYOR_SWEEP_INTERVAL_SECONDS": "1", "CONVEYOR_AGGREGATION_DELAY_SECONDS": "1", "CONVEYOR_DEFAULT_OWNER_LIMIT": "4",
        }
        os.makedirs("/etc/conveyor", exist_ok=True)
        fd = os.open(self.env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f: f.write("".join("%s=%s\n" % kv for kv in settings.items()))
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
        env.update(settings)
        out = open(os.path.join(self.tmp, "node.log"), "ab")
        self.node = subprocess.Popen([BIN, "node"], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        deadline = time.time() + 90
        while time.time() < deadline:
            if self.node.poll() is not None: raise RuntimeError("node exited; see %s/node.log" % self.tmp)
            if self.readyz()[0] == 200: return
            time.sleep(0.3)
        raise RuntimeError("node not ready; see %s/node.log" % self.tmp)

    def readyz(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % self.http_port, timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e: return e.code, {}
        except Exception as e: return 0, {"error": str(e)}

    def shutdown(self):
        if self.listener: self.listener.close()
        if self.node and self.node.poll() is None:
            self.node.send_signal(signal.SIGTERM)
            try: self.node.wait(timeout=40)
            except Exception:
                os.killpg(self.node.pid, signal.SIGKILL); self.node.wait()
        subprocess.run(["redis-cli", "-p", str(self.redis_port), "--user", "conveyor", "--pass", REDIS_PW, "--no-auth-warning", "shutdown", "nosave"],
                       capture_output=True)
        self.as_pg([self.pg_bin + "/pg_ctl", "-D", self.pgdata, "-m", "immediate", "stop"], capture_output=True)
        try: os.unlink(self.env_file)
        except OSError: pass
        if os.environ.get("CONVEYOR_SECURITY_KEEP"): log("kept %s" % self.tmp)
        else: shutil.rmtree(self.tmp, ignore_errors=True)


def api(port, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, method=method,
                                 headers={"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()


LEAK = 'leak() { echo "LEAK: $*"; }\n'

def attacks(c, own, listen_port):
    work, node_dir = c.work, c.tmp
    probe = 'probe() { if timeout 8 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; then leak "connected to $1:$2"; else echo "blocked $1:$2"; fi; }\n'
    targets = [("127.0.0.1", p) for p in (c.redis_port, c.pg_port, c.http_port, 6391, 5441)]
    targets += [("10.0.2.2", p) for p in (c.redis_port, c.pg_port, c.http_port)]
    if own: targets += [(own, listen_port), (own, c.http_port)]
    return {
        # Node credentials: environment, /proc, /etc/conveyor, the node's directories, another job's directory.
        "secrets": LEAK + """
env | grep -i -E 'redis|postgres|api_token|webhook|sec-(redis|pg|token)-' && leak "node settings in the job's environment"
ls -A /etc/conveyor 2>/dev/null | grep . && leak "/etc/conveyor is visible"
cat /etc/conveyor/*.env 2>/dev/null && leak "read /etc/conveyor"
for p in /proc/[0-9]*; do cat $p/environ $p/cmdline 2>/dev/null; echo; done | grep -a -o -E 'sec-(redis|pg|token)-[0-9]+' | head -1 | grep . && leak "credentials in /proc"
ls -A %(work)s | grep -v -x "$(basename "$(dirname "$HOME")")" && leak "other entries of the work directory"
cat %(work)s/*/home/victim-secret.txt 2>/dev/null && leak "read another job's directory"
find / -xdev -name victim-secret.txt 2>/dev/null | grep . && leak "found another job's file"
ls -A %(node)s 2>/dev/null | grep -v -x -E 'work|repos' && leak "the node's directory is visible"
cat %(node)s/node.log 2>/dev/null | head -1 | grep . && leak "read the node log"
for f in /usr/pwned /etc/pwned /opt/pwned /var/pwned; do
  touch "$f" 2>/dev/null && leak "wrote $f"
done
# Under the sandbox's private /tmp these parents are the job's own; the suite checks the host's.
touch %(work)s/pwned %(node)s/pwned 2>/dev/null
kill -0 1 2>/dev/null; ps -e -o pid=,comm= | awk '{print $2}' | grep -x -E 'conveyor|redis-server|postgres' && leak "sees host processes"
echo secrets-checked
""" % {"work": work, "node": node_dir},
        # The cluster's Redis and PostgreSQL (and the shared test servers, and the node) on loopback.
        "network": LEAK + probe + "".join("probe %s %d\n" % t for t in targets) + """
python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 5432)); s.listen(); c=socket.create_connection(("127.0.0.1", 5432)); print("own-5432-ok")'
echo network-checked
""",
        # 2,000 processes against a pids limit of 256 (each sleep ends by itself).
        "forkbomb": """python3 - <<'PY'
import os, time
kids = 0
for i in range(2000):
    try:
        pid = os.fork()
    except OSError:
        continue
    if pid == 0:
        time.sleep(15)
        os._exit(0)
    kids += 1
print("forked", kids, "of 2000")
PY
""",
        # 1 GiB against a memory limit of 256 MiB.
        "memory": "python3 -c 'b = bytearray(1 << 30); print(\"allocated\", len(b) >> 20, \"MiB\")'\necho memory-survived\n",
        # 256 MiB of files against a disk limit of 96 MiB.
        "disk": "head -c 256M /dev/zero > fill || echo disk-write-failed\nls -la\n",
        # A daemon meant to outlive the job.
        "daemon": "setsid nohup bash -c 'exec -a conveyor-sec-daemon-%s sleep 600' >/dev/null 2>&1 &\n"
                  "(trap '' HUP TERM; exec -a conveyor-sec-daemon-%s sleep 600) >/dev/null 2>&1 &\ndisown -a\nsleep 0.5\necho daemon-started\n" % (RUN, RUN),
        "victim": "echo victim-%s > $HOME/victim-secret.txt\nchmod 644 $HOME/victim-secret.txt\nfor i in $(seq 1 40); do [ -e $HOME/stop ] && break; sleep 0.5; done\necho victim-done\n" % RUN,
        "ok": "echo all-good; git --version\n",
    }


class Suite:
    def __init__(self, c):
        self.c = c; self.passed = self.failed = 0; self.repos = {}

    def check(self, name, ok, detail=""):
        if ok: self.passed += 1; log("PASS %s" % name)
        else: self.failed += 1; log("FAIL %s %s" % (name, detail))

    def make_repo(self, name, script):
        d = os.path.join(self.c.tmp, "repos", name)
        os.makedirs(d)
        with open(os.path.join(d, "attack.sh"), "w") as f: f.write(script)
        with open(os.path.join(d, ".conveyor.yml"), "w") as f: f.write("language: shell\nscript:\n  - bash attack.sh\n")
        git = lambda *a: subprocess.run(["git", "-C", d, "-c", "user.name=sec", "-c", "user.email=sec@example.invalid"] + list(a), check=True, capture_output=True)
        git("init", "-q", "-b", "main"); git("add", "."); git("commit", "-qm", name)
        self.repos[name] = d

    def submit(self, name):
        _, _, body = api(self.c.http_port, "POST", "/api/v1/repos/hostile/%s/requests" % name, {"branch": "main", "url": "file://" + self.repos[name]})
        return int(json.loads(body)["request"])

    def job_of(self, request, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            rows = self.c.sql("SELECT j.id, j.state FROM jobs j JOIN builds b ON b.id = j.build_id WHERE b.request_id = %d" % request)
            if rows: return int(rows[0][0])
            time.sleep(0.3)
        raise RuntimeError("no job for request %d" % request)

    def state(self, job):
        return self.c.sql("SELECT state, coalesce(finished_reason, '') FROM jobs WHERE id = %d" % job)[0] if self.has_reason() else \
            self.c.sql("SELECT state, '' FROM jobs WHERE id = %d" % job)[0]

    def has_reason(self):
        if not hasattr(self, "_reason"):
            self._reason = bool(self.c.sql("SELECT 1 FROM information_schema.columns WHERE table_name = 'jobs' AND column_name = 'finished_reason'"))
        return self._reason

    def wait_final(self, job, timeout=150):
        deadline = time.time() + timeout
        while time.time() < deadline:
            s = self.state(job)
            if s[0] in FINAL: return s[0]
            time.sleep(0.5)
        return self.state(job)[0]

    def wait_state(self, job, states, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.state(job)[0] in states: return True
            time.sleep(0.3)
        return False

    def job_log(self, job):
        text = ""
        for _ in range(60):
            try:
                _, h, body = api(self.c.http_port, "GET", "/api/v1/jobs/%d/log" % job)
                text = body.decode("utf-8", "replace")
                if h.get("x-log-complete") == "true": return text
            except Exception: pass
            time.sleep(0.5)
        return text

    def survivors(self, marker):
        found = []
        for d in os.listdir("/proc"):
            if not d.isdigit(): continue
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    if marker.encode() in f.read(): found.append(int(d))
            except OSError: pass
        return found

    def run_one(self, name, expect_state, expect_lines=(), forbid=("LEAK:",)):
        job = self.job_of(self.submit(name))
        state = self.wait_final(job)
        text = self.job_log(job)
        with open(os.path.join(self.c.tmp, "log-%s.txt" % name), "w") as f: f.write(text)
        self.check("%s: job %s" % (name, expect_state), state == expect_state, "got %s (log %s/log-%s.txt)" % (state, self.c.tmp, name))
        for line in expect_lines:
            self.check("%s: log says %r" % (name, line), line in text, "not in the log:\n" + text[-1500:])
        for bad in forbid:
            leaks = [l for l in text.splitlines() if bad in l]
            self.check("%s: no %r" % (name, bad), not leaks, "\n".join(leaks[:10]))
        return job, text

    def node_healthy(self, when):
        status, body = self.c.readyz()
        self.check("node ready %s" % when, self.c.node.poll() is None and status == 200, "status %s %s" % (status, body))
        return body

    def run(self):
        own = own_address()
        listen_port = None
        if own:
            self.c.listener = socket.socket(); self.c.listener.bind((own, 0)); self.c.listener.listen(16)
            listen_port = self.c.listener.getsockname()[1]
        for name, script in attacks(self.c, own, listen_port).items(): self.make_repo(name, script)
        body = self.node_healthy("at start")
        self.check("no sandbox warnings in /readyz", not body.get("warnings"), str(body.get("warnings")))

        # Another job runs while the attacker looks for its directory.
        victim = self.job_of(self.submit("victim"))
        self.check("victim started", self.wait_state(victim, {"started"}), str(self.state(victim)))
        time.sleep(1)
        self.run_one("secrets", "passed", ["secrets-checked"])
        open_dirs = glob.glob(os.path.join(self.c.work, "*", "home", "victim-secret.txt"))
        for path in open_dirs: open(os.path.join(os.path.dirname(path), "stop"), "w").close()
        self.check("victim passed", self.wait_final(victim) == "passed")

        _, text = self.run_one("network", "passed", ["own-5432-ok", "network-checked", "blocked 127.0.0.1:%d" % self.c.redis_port,
                                                     "blocked 127.0.0.1:%d" % self.c.pg_port])
        if own: self.check("network: the node's own address %s was probed" % own, "blocked %s:%d" % (own, listen_port) in text)
        _, text = self.run_one("forkbomb", "failed", ["The job exceeded its process limit of %d processes" % PIDS_LIMIT])
        _, text = self.run_one("memory", "failed", ["The job exceeded its memory limit of 256 MiB"], forbid=("LEAK:", "allocated 1024 MiB"))
        self.run_one("disk", "failed", ["disk-write-failed", "The job exceeded its disk limit of 96 MiB"])
        self.run_one("daemon", "passed", ["daemon-started"])
        time.sleep(1)
        left = self.survivors("conveyor-sec-daemon-" + RUN)
        self.check("daemon: nothing outlives its job", not left, "still running: %s" % left)
        for pid in left:
            try: os.kill(pid, signal.SIGKILL)
            except OSError: pass
        boxes = [b for b in os.listdir(self.c.work) if b.startswith("job-")] if os.path.isdir(self.c.work) else []
        self.check("every job directory removed", not boxes, str(boxes))
        for path in ["/usr/pwned", "/etc/pwned", "/opt/pwned", "/var/pwned", os.path.join(self.c.work, "pwned"), os.path.join(self.c.tmp, "pwned")]:
            self.check("nothing written to %s" % path, not os.path.exists(path))
        self.node_healthy("after the attacks")
        self.run_one("ok", "passed", ["all-good"])
        r = self.c.redis_cli("XLEN", "sec%s:state" % RUN)
        self.check("cluster Redis untouched and answering", r.returncode == 0 and r.stdout.strip().isdigit(), r.stdout + r.stderr)


def main():
    if os.getuid() != 0:
        print("security: needs root", file=sys.stderr); return 2
    c = Cluster()
    suite = Suite(c)
    try:
        c.start_redis(); c.start_pg(); c.start_node()
        log("cluster up: redis %d (ACL), postgres %d (scram), node http %d" % (c.redis_port, c.pg_port, c.http_port))
        suite.run()
    except Exception as e:
        suite.check("suite ran", False, repr(e))
    finally:
        c.shutdown()
    print("security: %d passed, %d failed" % (suite.passed, suite.failed), flush=True)
    return 0 if suite.failed == 0 else 1


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    sys.exit(main())
