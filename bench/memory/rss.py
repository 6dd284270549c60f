"""Memory figures of running processes, from /proc (bench/memory/run.sh).

  rss.py snapshot NAME=PID...        one table row per process: VmRSS, RssAnon, RssFile, Pss, threads, and where
                                     the resident pages are (the binary, Swift/Foundation, other libraries, anonymous)
  rss.py mappings PID                resident kB per mapping, the largest first
  rss.py sample SECONDS OUT NAME=PID...  samples VmRSS/RssAnon every 0.2 s until SECONDS pass or OUT.stop exists; writes peaks as JSON
"""
import json, os, sys, time
from collections import Counter


def status(pid):
    out = {}
    for line in open(f"/proc/{pid}/status"):
        k, _, v = line.partition(":")
        if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"):
            out[k] = int(v.split()[0])
        elif k == "Threads":
            out[k] = int(v)
    for line in open(f"/proc/{pid}/smaps_rollup"):
        k, _, v = line.partition(":")
        if k in ("Pss", "Pss_Anon", "Pss_File", "Private_Clean", "Private_Dirty", "Shared_Clean"):
            out[k] = int(v.split()[0])
    return out


def mappings(pid):
    rss, name = Counter(), None
    for line in open(f"/proc/{pid}/smaps"):
        first = line.split()
        if "-" in first[0] and len(first) >= 5 and ":" in first[3]:
            name = first[5] if len(first) >= 6 else "[anon]"
        elif first[0] == "Rss:":
            rss[name] += int(first[1])
    return rss


def group(path, exe):
    if path == exe:
        return "binary"
    if path.startswith("/opt/swift") or "/swift/" in path:
        base = os.path.basename(path)
        return "Foundation+ICU" if ("Foundation" in base or "icu" in base.lower()) else "Swift runtime"
    if path.startswith("/"):
        return "other libraries"
    return "anonymous (heap, stacks)"


def threads(pid):
    names = Counter()
    for t in os.listdir(f"/proc/{pid}/task"):
        n = open(f"/proc/{pid}/task/{t}/comm").read().strip().rstrip("0123456789")
        names[n] += 1
    return ", ".join(f"{c}× {n}" for n, c in names.most_common())


def snapshot(pairs):
    rows = []
    print("| process | VmRSS | RssAnon | RssFile | Pss | threads | binary | Swift runtime | Foundation+ICU | other libs | anonymous |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for pair in pairs:
        name, pid = pair.split("=")
        s = status(pid)
        exe = os.readlink(f"/proc/{pid}/exe")
        g = Counter()
        for path, kb in mappings(pid).items():
            g[group(path, exe)] += kb
        mb = lambda kb: f"{kb / 1024:.1f}"
        print(f"| {name} | {mb(s['VmRSS'])} | {mb(s['RssAnon'])} | {mb(s['RssFile'])} | {mb(s['Pss'])} | {s['Threads']} | {mb(g['binary'])} | "
              f"{mb(g['Swift runtime'])} | {mb(g['Foundation+ICU'])} | {mb(g['other libraries'])} | {mb(g['anonymous (heap, stacks)'])} |")
        rows.append({"name": name, **s, "groups_kb": dict(g), "threads_by_name": threads(pid)})
    print("(MB; groups are resident pages per mapping from /proc/PID/smaps)")
    for r in rows:
        print(f"threads of {r['name']}: {r['threads_by_name']}")
    return rows


def sample(seconds, out, pairs):
    peak = {p.split("=")[0]: {"VmRSS": 0, "RssAnon": 0, "Threads": 0} for p in pairs}
    end = time.time() + seconds
    while time.time() < end and not os.path.exists(out + ".stop"):
        for pair in pairs:
            name, pid = pair.split("=")
            try:
                s = status(pid)
            except OSError:
                continue
            for k in peak[name]:
                peak[name][k] = max(peak[name][k], s[k])
        time.sleep(0.2)
    json.dump(peak, open(out, "w"))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "snapshot":
        rows = snapshot(sys.argv[2:])
        if os.environ.get("RSS_JSON"):
            json.dump(rows, open(os.environ["RSS_JSON"], "w"))
    elif cmd == "mappings":
        for path, kb in mappings(sys.argv[2]).most_common(25):
            print(f"{kb:8d} kB  {path}")
    elif cmd == "sample":
        sample(float(sys.argv[2]), sys.argv[3], sys.argv[4:])
