"""bench/dispatch helpers (issue 11). Subcommands, each writes one JSON file:

  conveyor  submit M builds through the API, sample owner running sets, wait, read Postgres
  rq        RQ with RateLimit(owner, L) (when the release has it) and K SimpleWorker processes
  bullmq    BullMQ for Python, one queue per owner with global concurrency L, K slots over 2 processes
  report    combine the JSON files, print the table, write bench/results/dispatch-<date>.json
Run through bench/dispatch/run.sh, which starts the servers, the nodes and the venv.
"""
import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * p
    f = int(k)
    c = min(f + 1, len(v) - 1)
    return v[f] + (v[c] - v[f]) * (k - f)


def peak_from_intervals(rows):
    """rows: (owner, start, end) -> max concurrent per owner computed from the recorded intervals."""
    by = {}
    for owner, s, e in rows:
        if s is None or e is None:
            continue
        by.setdefault(owner, []).append((s, 1))
        by[owner].append((e, -1))
    peaks = {}
    for owner, ev in by.items():
        ev.sort(key=lambda x: (x[0], x[1]))  # an end at the same instant as a start releases first
        cur = best = 0
        for _, d in ev:
            cur += d
            best = max(best, cur)
        peaks[owner] = best
    return peaks


class Sampler(threading.Thread):
    """ZCARD of every owner's running set every `interval` s, in one pipeline."""

    def __init__(self, r, keys, interval=0.05):
        super().__init__(daemon=True)
        self.r, self.keys, self.interval = r, keys, interval
        self.peak = {k: 0 for k in keys}
        self.samples = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            t = time.monotonic()
            p = self.r.pipeline(transaction=False)
            for k in self.keys:
                p.zcard(k)
            for k, n in zip(self.keys, p.execute()):
                if n > self.peak[k]:
                    self.peak[k] = n
            self.samples += 1
            self.stop.wait(max(0.0, self.interval - (time.monotonic() - t)))


# ---------------------------------------------------------------- Conveyor

def psql(args, sql):
    out = subprocess.run(["psql", "-X", "-q", "-h", args.pg_host, "-p", str(args.pg_port), "-U", "conveyor", "-d", args.db,
                          "-tA", "-F", "\t", "-c", sql], check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def post(url, token, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def conveyor(args):
    import redis
    r = redis.Redis(host="127.0.0.1", port=args.redis_port, db=0)
    owners = [f"o{i:03d}" for i in range(args.owners)]
    keys = [f"{args.prefix}:owner:{{{o}}}:running" for o in owners]
    sampler = Sampler(r, keys)
    sampler.start()
    t0 = time.time()

    def submit(o, branch):
        return post(f"{args.api}/api/v1/repos/{o}/r/requests", args.token, {"branch": branch, "url": args.repo_url})

    with ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda o: submit(o, "main"), owners))
    t_submitted = time.time()
    deadline = time.time() + args.timeout
    done = 0
    # One psql (a process and a server backend each) every 0.5 s: the poll only decides when to stop
    # waiting; the figures come from the rows' timestamps, and a busier poll would take CPU from the
    # system being measured.
    while time.time() < deadline:
        row = psql(args, "SELECT (SELECT count(*) FROM jobs WHERE state IN ('passed','failed','errored','canceled')), "
                         "(SELECT count(*) FROM builds WHERE finished_at IS NOT NULL)")[0]
        done = int(row[0])
        if done >= args.jobs and int(row[1]) >= args.owners:
            break
        time.sleep(0.5)
    t_done = time.time()
    sampler.stop.set()
    sampler.join()
    res = {"system": "conveyor", "jobs": args.jobs, "owners": args.owners, "limit": args.limit, "slots": args.slots,
           "finished_jobs": done, "timed_out": done < args.jobs, "submit_seconds": round(t_submitted - t0, 3),
           "wall_seconds_client": round(t_done - t0, 3)}
    q = psql(args, """SELECT count(*), extract(epoch FROM min(created_at)), extract(epoch FROM max(finished_at)),
                             count(*) FILTER (WHERE state = 'passed'), max(attempt) FROM jobs""")[0]
    n, first, last = int(q[0]), float(q[1]), float(q[2] or q[1])
    res.update(first_enqueue=first, last_finished=last, drain_seconds=round(last - first, 3),
               throughput_jobs_s=round(n / (last - first), 1) if last > first else None,
               passed=int(q[3]), max_attempt=int(q[4]))
    b = psql(args, "SELECT extract(epoch FROM min(q.created_at)), extract(epoch FROM max(b.finished_at)), count(*) FILTER (WHERE b.state='passed') "
                   "FROM builds b JOIN requests q ON q.id = b.request_id")[0]
    res.update(request_to_last_build_seconds=round(float(b[1]) - float(b[0]), 3) if b[1] else None, builds_passed=int(b[2]))
    lat = [float(x[0]) for x in psql(args, "SELECT extract(epoch FROM started_at - created_at) * 1000 FROM jobs WHERE started_at IS NOT NULL")]
    res.update(p50_created_started_ms=round(pct(lat, 0.5), 1), p99_created_started_ms=round(pct(lat, 0.99), 1))
    lat_q = [float(x[0]) for x in psql(args, "SELECT extract(epoch FROM started_at - queued_at) * 1000 FROM jobs WHERE started_at IS NOT NULL AND queued_at IS NOT NULL")]
    res.update(p50_queued_started_ms=round(pct(lat_q, 0.5), 1) if lat_q else None, p99_queued_started_ms=round(pct(lat_q, 0.99), 1) if lat_q else None)
    once = psql(args, """SELECT count(*) FILTER (WHERE s = 1 AND a1), count(*) FILTER (WHERE s <> 1), count(*) FILTER (WHERE NOT a1)
                         FROM (SELECT j.id, count(e.id) FILTER (WHERE e.kind = 'started' AND e.applied) AS s,
                                      bool_and(coalesce(e.attempt, 1) = 1) FILTER (WHERE e.kind = 'started' AND e.applied) IS NOT FALSE AND j.attempt = 1 AS a1
                               FROM jobs j LEFT JOIN job_events e ON e.job_id = j.id GROUP BY j.id, j.attempt) t""")[0]
    res.update(ran_exactly_once=int(once[0]), started_not_once=int(once[1]), not_attempt_1=int(once[2]))
    res["exactly_once_ok"] = res["ran_exactly_once"] == args.jobs
    rows = psql(args, "SELECT o.login, extract(epoch FROM j.started_at), extract(epoch FROM j.finished_at) FROM jobs j JOIN owners o ON o.id = j.owner_id")
    ip = peak_from_intervals([(x[0], float(x[1]) if x[1] else None, float(x[2]) if x[2] else None) for x in rows])
    res.update(peak_per_owner_sampled=max(sampler.peak.values()), samples=sampler.samples,
               sample_interval_ms=50, peak_per_owner_from_pg_intervals=max(ip.values()) if ip else None)
    res["limit_ok"] = res["peak_per_owner_sampled"] <= args.limit
    json.dump(res, open(args.out, "w"), indent=2)
    print(json.dumps(res, indent=2))


def conveyor_probe(args):
    """Unsaturated probe after the drain: a few owners with L jobs each (fewer than K in all)."""
    res = json.load(open(args.conveyor))
    owners = [f"o{i:03d}" for i in range(args.owners)]

    def submit(o, branch):
        return post(f"{args.api}/api/v1/repos/{o}/r/requests", args.token, {"branch": branch, "url": args.repo_url})

    if args.probe_owners:
        before = int(psql(args, "SELECT coalesce(max(id), 0) FROM jobs")[0][0])
        with ThreadPoolExecutor(8) as ex:
            list(ex.map(lambda o: submit(o, "probe"), owners[:args.probe_owners]))
        want = args.probe_owners * args.limit
        dl = time.time() + 60
        while time.time() < dl:
            c = int(psql(args, f"SELECT count(*) FROM jobs WHERE id > {before} AND state IN ('passed','failed','errored','canceled')")[0][0])
            if c >= want:
                break
            time.sleep(0.1)
        pl = [float(x[0]) for x in psql(args, f"SELECT extract(epoch FROM started_at - created_at) * 1000 FROM jobs WHERE id > {before} AND started_at IS NOT NULL")]
        res.update(probe_jobs=len(pl), probe_p50_created_started_ms=round(pct(pl, 0.5), 1) if pl else None,
                   probe_p99_created_started_ms=round(pct(pl, 0.99), 1) if pl else None)
    json.dump(res, open(args.out, "w"), indent=2)
    print(json.dumps(res, indent=2))


# ---------------------------------------------------------------- RQ

def rq_bench(args):
    import redis
    import rq
    from rq import Queue
    url = f"redis://127.0.0.1:{args.redis_port}/{args.db_index}"
    r = redis.Redis.from_url(url)
    r.flushdb()
    has_rl = hasattr(rq, "RateLimit")
    res = {"system": "rq", "version": rq.__version__, "rate_limit_available": has_rl, "jobs": args.jobs, "owners": args.owners,
           "limit": args.limit, "slots": args.slots, "workers": "SimpleWorker x %d processes" % args.slots}
    if not has_rl:
        print(f"RQ {rq.__version__} on PyPI has no RateLimit: running RQ without per-owner limits")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.abspath(__file__)))
    rqbin = os.path.join(os.path.dirname(sys.executable), "rq")
    procs = [subprocess.Popen([rqbin, "worker", "-w", "rq.worker.SimpleWorker", "-u", url, "-q", "--disable-job-desc-logging",
                               "--name", f"bench-w{i}", "dispatch"], env=env, stdout=subprocess.DEVNULL, stderr=open(f"{args.logdir}/rq-worker-{i}.log", "w"))
             for i in range(args.slots)]
    # Wait for the workers to register so their start-up isn't counted.
    from rq import Worker
    dl = time.time() + 120
    while time.time() < dl and len(Worker.all(connection=r)) < args.slots:
        time.sleep(0.2)
    res["workers_registered"] = len(Worker.all(connection=r))
    q = Queue("dispatch", connection=r)
    owners = [f"o{i:03d}" for i in range(args.owners)]
    per = args.jobs // args.owners
    ids = []
    # --job-ms: the job sleeps that long (noop.sleep_ms), as Conveyor's noop_executor_sleep_ms does.
    fn, fargs = ("noop.sleep_ms", (args.job_ms,)) if args.job_ms > 0 else ("noop.noop", ())
    t0 = time.time()
    if has_rl:
        for j in range(per):
            for o in owners:
                job = q.enqueue(fn, *fargs, rate_limit=rq.RateLimit(key=o, concurrency=args.limit), result_ttl=3600, meta={"owner": o})
                ids.append((o, job.id))
    else:
        for j in range(per):
            for o in owners:
                job = q.enqueue(fn, *fargs, result_ttl=3600, meta={"owner": o})
                ids.append((o, job.id))
    t_enq = time.time()
    from rq.registry import FinishedJobRegistry
    fin = FinishedJobRegistry("dispatch", connection=r)
    dl = time.time() + args.timeout
    while time.time() < dl:
        if fin.count >= args.jobs:
            break
        time.sleep(0.1)
    t_done = time.time()
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
    from rq.job import Job
    rows, lat, ends = [], [], []
    for chunk in range(0, len(ids), 1000):
        part = ids[chunk:chunk + 1000]
        jobs = Job.fetch_many([i for _, i in part], connection=r)
        for (o, _), job in zip(part, jobs):
            if job is None or job.started_at is None:
                continue
            s, e = job.started_at.timestamp(), job.ended_at.timestamp() if job.ended_at else None
            c = job.created_at.timestamp()
            lat.append((s - c) * 1000)
            rows.append((o, s, e))
            if e:
                ends.append(e)
    last = max(ends) if ends else t_done
    res.update(enqueue_seconds=round(t_enq - t0, 3), finished_jobs=fin.count, timed_out=fin.count < args.jobs,
               drain_seconds=round(last - t0, 3), throughput_jobs_s=round(len(ends) / (last - t0), 1) if ends else None,
               p50_created_started_ms=round(pct(lat, 0.5), 1) if lat else None, p99_created_started_ms=round(pct(lat, 0.99), 1) if lat else None)
    ip = peak_from_intervals(rows)
    res["peak_per_owner_from_intervals"] = max(ip.values()) if ip else None
    res["limit_ok"] = (res["peak_per_owner_from_intervals"] or 0) <= args.limit
    res["ran_exactly_once"] = len(ends)
    json.dump(res, open(args.out, "w"), indent=2)
    print(json.dumps(res, indent=2))
    r.flushdb()


# ---------------------------------------------------------------- BullMQ

async def bull_worker_proc(args, owners, slots, ready_path):
    from bullmq import Worker
    sem = asyncio.Semaphore(slots)
    conn = f"redis://127.0.0.1:{args.redis_port}/{args.db_index}"

    async def process(job, token):
        async with sem:
            if args.job_ms > 0:
                await asyncio.sleep(args.job_ms / 1000)
            return None

    workers = [Worker(f"o-{o}", process, {"connection": conn, "concurrency": args.limit, "autorun": True}) for o in owners]
    open(ready_path, "w").write("ready")
    stop = asyncio.Event()
    import signal
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for w in workers:
        await w.close(force=True)


def bullmq_worker(args):
    owners = args.worker_owners.split(",")
    asyncio.run(bull_worker_proc(args, owners, args.worker_slots, args.ready))


async def bull_main(args):
    import bullmq
    import redis as redis_mod
    from bullmq import Queue
    conn = f"redis://127.0.0.1:{args.redis_port}/{args.db_index}"
    rr = redis_mod.Redis(host="127.0.0.1", port=args.redis_port, db=args.db_index)
    rr.flushdb()
    owners = [f"o{i:03d}" for i in range(args.owners)]
    ver = getattr(bullmq, "__version__", None)
    if ver is None:
        from importlib.metadata import version
        ver = version("bullmq")
    res = {"system": "bullmq", "version": ver, "jobs": args.jobs, "owners": args.owners, "limit": args.limit, "slots": args.slots,
           "workers": f"2 processes, a Worker(concurrency={args.limit}) per owner queue, each process's jobs bounded by a semaphore of {args.slots // 2}"}
    queues = {o: Queue(f"o-{o}", {"connection": conn}) for o in owners}
    for q in queues.values():
        await q.setGlobalConcurrency(args.limit)
    procs = []
    halves = [owners[0::2], owners[1::2]]
    for i, h in enumerate(halves):
        ready = f"{args.logdir}/bull-ready-{i}"
        if os.path.exists(ready):
            os.remove(ready)
        procs.append((subprocess.Popen([sys.executable, os.path.abspath(__file__), "bullmq-worker", "--redis-port", str(args.redis_port),
                                        "--db-index", str(args.db_index), "--limit", str(args.limit), "--worker-owners", ",".join(h),
                                        "--worker-slots", str(args.slots // 2), "--ready", ready, "--job-ms", str(args.job_ms)],
                                       stdout=subprocess.DEVNULL, stderr=open(f"{args.logdir}/bull-worker-{i}.log", "w")), ready))
    dl = time.time() + 60
    while time.time() < dl and not all(os.path.exists(rp) for _, rp in procs):
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)
    per = args.jobs // args.owners
    t0 = time.time()
    for o in owners:
        await queues[o].addBulk([{"name": "noop", "data": {"owner": o, "i": j}, "opts": {"removeOnComplete": False}} for j in range(per)])
    t_enq = time.time()
    dl = time.time() + args.timeout
    done = 0
    while time.time() < dl:
        p = rr.pipeline(transaction=False)
        for o in owners:
            p.zcard(f"bull:o-{o}:completed")
        done = sum(p.execute())
        if done >= args.jobs:
            break
        await asyncio.sleep(0.1)
    t_done = time.time()
    for pr, _ in procs:
        pr.terminate()
    for pr, _ in procs:
        try:
            pr.wait(15)
        except subprocess.TimeoutExpired:
            pr.kill()
    rows, lat, ends, attempts_over = [], [], [], 0
    for o in owners:
        ids = [x.decode() for x in rr.zrange(f"bull:o-{o}:completed", 0, -1)]
        p = rr.pipeline(transaction=False)
        for i in ids:
            p.hmget(f"bull:o-{o}:{i}", "timestamp", "processedOn", "finishedOn", "attemptsMade")
        for ts, po, fo, am in p.execute():
            if po is None or fo is None:
                continue
            ts, po, fo = int(ts) / 1000, int(po) / 1000, int(fo) / 1000
            lat.append((po - ts) * 1000)
            rows.append((o, po, fo))
            ends.append(fo)
            if am is not None and int(am) > 1:
                attempts_over += 1
    last = max(ends) if ends else t_done
    res.update(enqueue_seconds=round(t_enq - t0, 3), finished_jobs=done, timed_out=done < args.jobs, drain_seconds=round(last - t0, 3),
               throughput_jobs_s=round(len(ends) / (last - t0), 1) if ends else None,
               p50_created_started_ms=round(pct(lat, 0.5), 1) if lat else None, p99_created_started_ms=round(pct(lat, 0.99), 1) if lat else None,
               ran_exactly_once=len(ends) - attempts_over)
    ip = peak_from_intervals(rows)
    res["peak_per_owner_from_intervals"] = max(ip.values()) if ip else None
    res["limit_ok"] = (res["peak_per_owner_from_intervals"] or 0) <= args.limit
    for q in queues.values():
        await q.close()
    json.dump(res, open(args.out, "w"), indent=2)
    print(json.dumps(res, indent=2))
    rr.flushdb()


# ---------------------------------------------------------------- report

def fmt(v, unit=""):
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return f"{v:,.1f}{unit}"
    if isinstance(v, int):
        return f"{v:,}{unit}"
    return str(v)


def report(args):
    load = lambda p: json.load(open(p)) if p and os.path.exists(p) else None
    cv, rqr, bull, refs = load(args.conveyor), load(args.rq), load(args.bullmq), load(args.refs)
    out = {"date": args.date, "machine": {"cpus": os.cpu_count(), "note": "2 vCPU VM shared with other work during the run"},
           "parameters": {"jobs": args.jobs, "owners": args.owners, "limit": args.limit, "slots": args.slots},
           "servers": {"redis_port": args.redis_port, "postgres_port": args.pg_port}, "conveyor": cv, "rq": rqr, "bullmq": bull, "references": refs, "versions": json.loads(args.versions)}
    cols = [("Conveyor", cv), (f"RQ {rqr['version'] if rqr else ''}", rqr), (f"BullMQ-py {bull['version'] if bull else ''}", bull)]
    rowsdef = [
        ("jobs finished / N", lambda d: f"{d.get('finished_jobs')}/{d.get('jobs')}"),
        ("enqueue / submit seconds (client side)", lambda d: fmt(d.get("enqueue_seconds", d.get("submit_seconds")))),
        ("drain throughput (jobs/s)", lambda d: fmt(d.get("throughput_jobs_s"))),
        ("drain seconds (first enqueue -> last finished)", lambda d: fmt(d.get("drain_seconds"))),
        ("p50 created->started (ms)", lambda d: fmt(d.get("p50_created_started_ms"))),
        ("p99 created->started (ms)", lambda d: fmt(d.get("p99_created_started_ms"))),
        ("peak running per owner, sampled 50 ms", lambda d: fmt(d.get("peak_per_owner_sampled"))),
        ("peak running per owner, from recorded intervals", lambda d: fmt(d.get("peak_per_owner_from_pg_intervals", d.get("peak_per_owner_from_intervals")))),
        (f"per-owner limit L={args.limit} held", lambda d: fmt(d.get("limit_ok"))),
        ("jobs ran exactly once (attempt 1)", lambda d: fmt(d.get("ran_exactly_once"))),
    ]
    w0 = max(len(r[0]) for r in rowsdef) + 2
    lines = [f"Dispatch benchmark {args.date}: N={args.jobs} jobs, M={args.owners} owners, L={args.limit}, K={args.slots} slots (2 worker nodes)",
             f"Machine: {os.cpu_count()} CPUs, shared with other work during this run (figures vary ~+/-15% run to run).",
             f"Servers: Redis 127.0.0.1:{args.redis_port} (Conveyor db 0, RQ db 10, BullMQ db 11), PostgreSQL 127.0.0.1:{args.pg_port} (a fresh database).", ""]
    lines.append("| " + "metric".ljust(w0) + " | " + " | ".join(c[0].ljust(22) for c in cols) + " |")
    lines.append("|" + "-" * (w0 + 2) + "|" + "|".join("-" * 24 for _ in cols) + "|")
    for name, f in rowsdef:
        lines.append("| " + name.ljust(w0) + " | " + " | ".join((f(d) if d else "not run").ljust(22) for _, d in cols) + " |")
    if rqr and not rqr.get("rate_limit_available"):
        lines.append("RQ: the PyPI release has no RateLimit; RQ ran WITHOUT per-owner limits.")
    elif rqr:
        lines.append(f"RQ: RateLimit(key=owner, concurrency={args.limit}) available in {rqr['version']} and used; {rqr['workers']}.")
    if rqr and rqr.get("enqueue_seconds") and rqr.get("drain_seconds") and rqr["enqueue_seconds"] > 0.8 * rqr["drain_seconds"]:
        lines.append(f"RQ's drain is bounded by its producer: enqueueing took {rqr['enqueue_seconds']:.1f} of {rqr['drain_seconds']:.1f} s "
                     "(one Python process, one enqueue round trip per job; a rate-limited enqueue can't be pipelined).")
    if bull:
        lines.append(f"BullMQ: {bull['workers']}.")
    lines.append("")
    if cv:
        lines.append(f"Conveyor extra: API submit of {args.owners} builds {fmt(cv.get('submit_seconds'))} s; first request -> last build finished "
                     f"{fmt(cv.get('request_to_last_build_seconds'))} s; p50/p99 queued->started {fmt(cv.get('p50_queued_started_ms'))}/"
                     f"{fmt(cv.get('p99_queued_started_ms'))} ms; {cv.get('samples')} samples of the running sets.")
        if cv.get("probe_jobs"):
            lines.append(f"Unsaturated probe (after the drain): {cv['probe_jobs']} jobs ({args.probe_owners} owners x L, < K): "
                         f"p50 {fmt(cv.get('probe_p50_created_started_ms'))} ms, p99 {fmt(cv.get('probe_p99_created_started_ms'))} ms created->started.")
    targets = {}
    if refs:
        lines.append("")
        lines.append("Physical references (same run, same servers):")
        ev = refs.get("evalsha_rps")
        pg = refs.get("pgbench_tps")
        lines.append(f"  redis-benchmark EVALSHA 'return 1' -n 200000 -c 50: {fmt(ev)} calls/s (SCRIPT LOAD: {fmt(refs.get('script_load_rps'))}/s)")
        lines.append(f"  pgbench -N -c {refs.get('pg_clients')} -j 2 -T {refs.get('pg_seconds')}: {fmt(pg)} tx/s")
        if cv and cv.get("throughput_jobs_s"):
            t = cv["throughput_jobs_s"]
            rc, tx = args.redis_calls_per_job, args.pg_tx_per_job
            if ev:
                f = t * rc / ev
                refs["conveyor_redis_fraction"] = round(f, 4)
                lines.append(f"  Conveyor vs Redis: {t:,.0f} jobs/s x {rc} Redis commands/job (measured) = {t * rc:,.0f} calls/s = {f:.1%} of EVALSHA/s")
            if pg:
                f = t * tx / pg
                refs["conveyor_pg_fraction"] = round(f, 4)
                lines.append(f"  Conveyor vs Postgres: {t:,.0f} jobs/s x {tx} commits/job (measured) = {t * tx:,.0f} tx/s = {f:.1%} of pgbench -N tx/s")
            lines.append(f"  How: {args.assumptions}")
        if refs.get("cpu_seconds_during_drain") and cv and cv.get("drain_seconds"):
            c = refs["cpu_seconds_during_drain"]
            lines.append("  CPU during the Conveyor drain (s of CPU, % of one core): " +
                         ", ".join(f"{k} {v:.1f} ({v / cv['drain_seconds']:.0%})" for k, v in c.items()))
        h = refs.get("node_a_stream_handlers") or {}
        if h and cv and cv.get("drain_seconds"):
            lines.append("  Node A stream handlers, busy time over the drain (each group's handler runs its batch serially):")
            for g, v in sorted(h.items(), key=lambda kv: -kv[1]["busy_seconds"]):
                per = v["busy_seconds"] / v["entries"] * 1000 if v["entries"] else 0
                lines.append(f"    {g:<11} {v['busy_seconds']:7.1f} s busy = {v['busy_seconds'] / cv['drain_seconds']:4.0%} of the drain, "
                             f"{v['entries']:>6} entries, {per:.2f} ms per entry")
    if cv:
        lines.append("")
        lines.append("Targets (issue 11):")
        t = cv.get("throughput_jobs_s") or 0
        met = t >= 2000
        targets["throughput_2000"] = met
        lines.append(f"  >= 2,000 jobs/s end to end on 2 cores: {'MET' if met else 'NOT MET'} ({t:,.0f} jobs/s)")
        if rqr and rqr.get("throughput_jobs_s"):
            ratio = t / rqr["throughput_jobs_s"]
            targets["rq_3x"] = ratio >= 3
            lines.append(f"  >= 3x RQ{' with per-owner limits' if rqr.get('rate_limit_available') else ' (RQ without limits)'}: "
                         f"{'MET' if ratio >= 3 else 'NOT MET'} ({ratio:.2f}x)")
        if bull and bull.get("throughput_jobs_s"):
            ratio = t / bull["throughput_jobs_s"]
            targets["bullmq_1x"] = ratio >= 1
            lines.append(f"  >= BullMQ-py's throughput in the same run (issue 25): {'MET' if ratio >= 1 else 'NOT MET'} ({ratio:.2f}x)")
        p99 = cv.get("probe_p99_created_started_ms")
        if p99 is not None:
            targets["p99_250ms_unsaturated"] = p99 < 250
            lines.append(f"  p99 created->started < 250 ms unsaturated: {'MET' if p99 < 250 else 'NOT MET'} ({p99:,.0f} ms in the probe; "
                         f"{fmt(cv.get('p99_created_started_ms'))} ms in the saturated drain, where it is queueing time)")
        else:
            lines.append("  p99 created->started < 250 ms unsaturated: not measured (no probe)")
        lines.append(f"  per-owner limit never exceeded: {'yes' if cv.get('limit_ok') else 'NO'}; every job ran exactly once: {'yes' if cv.get('exactly_once_ok') else 'NO'}")
    if args.job_ms > 0:
        ideal = args.owners * args.limit * 1000 / args.job_ms
        out["ideal_jobs_s"] = ideal
        lines.append("")
        lines.append(f"Limit-bound case: {args.owners} owners x limit {args.limit}, jobs of {args.job_ms} ms: ideal {ideal:,.0f} jobs/s "
                     "(every owner's L slots always running a job)")
        for name, d in [("Conveyor", cv), ("RQ", rqr), ("BullMQ-py", bull)]:
            if d and d.get("throughput_jobs_s"):
                frac = d["throughput_jobs_s"] / ideal
                d["fraction_of_ideal"] = round(frac, 4)
                lines.append(f"  {name}: {d['throughput_jobs_s']:,.0f} jobs/s = {frac:.1%} of ideal")
        if cv and cv.get("throughput_jobs_s"):
            targets["limit_bound_95pct"] = cv["throughput_jobs_s"] / ideal >= 0.95
            lines.append(f"  Conveyor >= 95% of ideal: {'MET' if targets['limit_bound_95pct'] else 'NOT MET'}")
    out["parameters"]["job_ms"] = args.job_ms
    out["targets"] = targets
    out["table"] = lines
    text = "\n".join(lines)
    print(text)
    json.dump(out, open(args.out, "w"), indent=2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd")
    ap.add_argument("--jobs", type=int, default=10000)
    ap.add_argument("--owners", type=int, default=100)
    ap.add_argument("--limit", type=int, default=5)
    ap.add_argument("--slots", type=int, default=32)
    ap.add_argument("--redis-port", type=int, default=6391)
    ap.add_argument("--db-index", type=int, default=10)
    ap.add_argument("--pg-host", default="127.0.0.1")
    ap.add_argument("--pg-port", type=int, default=5441)
    ap.add_argument("--db", default="conveyor")
    ap.add_argument("--prefix", default="cv")
    ap.add_argument("--api", default="http://127.0.0.1:18480")
    ap.add_argument("--token", default="bench-token")
    ap.add_argument("--repo-url", default="")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--probe-owners", type=int, default=6)
    ap.add_argument("--logdir", default="/tmp")
    ap.add_argument("--out", default="/dev/stdout")
    ap.add_argument("--worker-owners", default="")
    ap.add_argument("--worker-slots", type=int, default=16)
    ap.add_argument("--ready", default="")
    ap.add_argument("--conveyor"); ap.add_argument("--rq"); ap.add_argument("--bullmq"); ap.add_argument("--refs")
    ap.add_argument("--date", default=time.strftime("%Y-%m-%d"))
    ap.add_argument("--versions", default="{}")
    ap.add_argument("--redis-calls-per-job", type=float, default=10)
    ap.add_argument("--pg-tx-per-job", type=float, default=4)
    ap.add_argument("--assumptions", default="")
    ap.add_argument("--job-ms", type=int, default=0, help="each job sleeps this long (limit-bound case); 0: no-op jobs")
    a = ap.parse_args()
    {"conveyor": conveyor, "conveyor-probe": conveyor_probe, "rq": rq_bench, "bullmq": lambda a: asyncio.run(bull_main(a)), "bullmq-worker": bullmq_worker,
     "report": report}[a.cmd](a)


if __name__ == "__main__":
    main()
