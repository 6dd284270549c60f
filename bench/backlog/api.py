"""API latency with a large jobs table (bench/backlog/run.sh): p50/p99 of GET requests over one keep-alive
connection, and of the same SQL through pgbench (the bare-query reference), side by side.
  api.py http HOST PORT TOKEN N PATH...      prints one JSON line per path
  api.py pgbench-log FILE...                 prints p50/p99 ms of pgbench -l per-transaction logs
"""
import http.client, json, sys, time


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def http_latency(host, port, token, n, paths):
    n = int(n)
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    for path in paths:
        times, size, status = [], 0, 0
        for i in range(n + 10):
            t = time.perf_counter()
            conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
            resp = conn.getresponse()
            body = resp.read()
            dt = (time.perf_counter() - t) * 1000
            status, size = resp.status, len(body)
            if i >= 10:
                times.append(dt)
        print(json.dumps({"path": path, "status": status, "bytes": size, "n": n, "p50_ms": round(pct(times, 50), 2),
                          "p99_ms": round(pct(times, 99), 2), "max_ms": round(max(times), 2)}))


def pgbench_log(files):
    times = []
    for f in files:
        for line in open(f):
            parts = line.split()
            if len(parts) >= 3:
                times.append(int(parts[2]) / 1000)
    print(json.dumps({"n": len(times), "p50_ms": round(pct(times, 50), 2), "p99_ms": round(pct(times, 99), 2)}))


if __name__ == "__main__":
    if sys.argv[1] == "http":
        http_latency(*sys.argv[2:6], sys.argv[6:])
    else:
        pgbench_log(sys.argv[2:])
