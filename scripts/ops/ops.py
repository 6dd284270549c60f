#!/usr/bin/env python3
"""Helpers for scripts/test-ops.sh (stdlib only).

  ops.py ui URL SCREENSHOT      headless Chromium over the DevTools protocol: opens a job page while
                                its build runs; checks that #log .line grows and #job-state ends passed
  ops.py prom PROM_URL DASH...  queries every panel expression and template variable query of the
                                Grafana dashboards through Prometheus's HTTP API
  ops.py json PATH...           reads a JSON document on stdin and prints the value at PATH
                                (keys or list indexes)

Each check prints one line "PASS name" or "FAIL name: why"; the exit status is the number of failures
(capped at 100).
"""
import base64
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

failures = 0
passes = 0


def check(ok, name, why=""):
    global failures, passes
    if ok:
        passes += 1
        print(f"PASS {name}", flush=True)
    else:
        failures += 1
        print(f"FAIL {name}: {why}", flush=True)


# ---------------------------------------------------------------- minimal WebSocket client (RFC 6455)

class WebSocket:
    def __init__(self, url, timeout=30):
        u = urllib.parse.urlparse(url)
        self.sock = socket.create_connection((u.hostname, u.port or 80), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        path = u.path + (("?" + u.query) if u.query else "")
        req = (f"GET {path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(req.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise IOError("websocket handshake: connection closed")
            head += chunk
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise IOError("websocket handshake failed: " + head.decode(errors="replace"))
        self.buf = b""

    def send(self, text):
        data = text.encode()
        header = bytearray([0x81])
        n = len(data)
        if n < 126:
            header.append(0x80 | n)
        elif n < 65536:
            header.append(0x80 | 126)
            header += struct.pack(">H", n)
        else:
            header.append(0x80 | 127)
            header += struct.pack(">Q", n)
        mask = os.urandom(4)
        header += mask
        self.sock.sendall(bytes(header) + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise IOError("websocket closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        message = b""
        while True:
            b0, b1 = self._read(2)
            opcode = b0 & 0x0F
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            payload = self._read(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 8:
                raise IOError("websocket closed by peer")
            if opcode in (9, 10):  # ping/pong: ignore
                continue
            message += payload
            if b0 & 0x80:
                return message.decode()


class CDP:
    def __init__(self, ws_url):
        self.ws = WebSocket(ws_url)
        self.next_id = 0

    def call(self, method, **params):
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def eval(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return r.get("result", {}).get("value")


def chromium_binary():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit("chromium not found")


def ui(url, screenshot):
    profile = tempfile.mkdtemp(prefix="conveyor-ops-chromium-")
    proc = subprocess.Popen(
        [chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--no-default-browser-check", "--remote-debugging-port=0",
         "--remote-debugging-address=127.0.0.1", f"--user-data-dir={profile}", "--window-size=1280,900",
         "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        port_file = os.path.join(profile, "DevToolsActivePort")
        deadline = time.time() + 30
        while not (os.path.exists(port_file) and open(port_file).read().strip()):
            if time.time() > deadline or proc.poll() is not None:
                check(False, "ui: chromium starts", "no DevToolsActivePort after 30 s")
                return
            time.sleep(0.1)
        port = int(open(port_file).read().split()[0])
        pages = []
        while time.time() < deadline and not pages:
            pages = [t for t in json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
                     if t.get("type") == "page"]
            time.sleep(0.1)
        cdp = CDP(pages[0]["webSocketDebuggerUrl"])
        cdp.call("Page.enable")
        cdp.call("Runtime.enable")
        cdp.call("Page.navigate", url=url)
        print(f"ui: opened {url}", flush=True)

        sample = ("JSON.stringify({lines: document.querySelectorAll('#log .line').length,"
                  " state: (document.querySelector('#job-state') || {dataset: {}}).dataset.state || null,"
                  " last: ((a) => a.length ? a[a.length - 1].textContent : '')(document.querySelectorAll('#log .line'))})")
        seen = []  # (t, lines, state, last line)
        start = time.time()
        while time.time() - start < 90:
            try:
                s = json.loads(cdp.eval(sample) or "{}")
            except (RuntimeError, ValueError):
                s = {}
            if s:
                entry = (round(time.time() - start, 1), s.get("lines", 0), s.get("state"), s.get("last", ""))
                if not seen or entry[1:3] != seen[-1][1:3]:
                    print(f"ui: t={entry[0]:>5}s lines={entry[1]:>3} state={entry[2]} last={entry[3]!r}", flush=True)
                seen.append(entry)
                if s.get("state") in ("passed", "failed", "errored", "canceled"):
                    break
            time.sleep(0.25)
        time.sleep(0.5)
        final_lines = json.loads(cdp.eval(sample) or "{}").get("lines", 0)

        running = [e for e in seen if e[2] in ("started", "received", "queued", "created")]
        running_counts = [e[1] for e in running if e[1] > 0]
        grew = len(running_counts) >= 2 and running_counts[-1] > running_counts[0]
        check(grew, "ui: log lines appear while the job runs",
              f"line counts while running: {sorted(set(e[1] for e in running))}")
        states = [e[2] for e in seen if e[2]]
        distinct = []
        for st in states:
            if not distinct or distinct[-1] != st:
                distinct.append(st)
        check(bool(states) and states[-1] == "passed" and "started" in distinct,
              "ui: state badge changes from started to passed", f"states seen: {distinct}")
        check(final_lines >= 15, "ui: full log rendered at the end", f"{final_lines} lines")

        shot = cdp.call("Page.captureScreenshot", format="png")
        os.makedirs(os.path.dirname(screenshot) or ".", exist_ok=True)
        with open(screenshot, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        print(f"ui: screenshot {screenshot}", flush=True)
    finally:
        try:
            os.killpg(proc.pid, 15)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


# ---------------------------------------------------------------- Prometheus checks

SUBSTITUTIONS = [
    (re.compile(r"\$__rate_interval|\$\{__rate_interval\}|\$__interval|\$\{__interval\}|\$__range|\$\{__range\}"), "1m"),
    (re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*(:[a-z]+)?\}?"), ".*"),
]


def substitute(expr):
    for pattern, value in SUBSTITUTIONS:
        expr = pattern.sub(value, expr)
    return expr


def prom_get(base, path, **params):
    url = f"{base}{path}?{urllib.parse.urlencode(params)}"
    try:
        return json.load(urllib.request.urlopen(url, timeout=30))
    except urllib.error.HTTPError as e:
        return json.load(e)


def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def prom(base, files):
    for path in files:
        dash = json.load(open(path))
        name = os.path.basename(path)
        for p in walk_panels(dash.get("panels", [])):
            for t in p.get("targets", []):
                expr = t.get("expr")
                if not expr:
                    continue
                q = substitute(expr)
                r = prom_get(base, "/api/v1/query", query=q)
                label = f"prom: {name} / {p.get('title', '?')} [{t.get('refId', '')}] {expr}"
                if r.get("status") != "success":
                    check(False, label, f"invalid: {r.get('errorType')}: {r.get('error')}")
                    continue
                result = r["data"]["result"]
                ok = len(result) > 0 if isinstance(result, list) else True
                check(ok, label, "valid, but no data")
                if ok and isinstance(result, list) and all(x["value"][1] == "NaN" for x in result):
                    print("      note: NaN (no observations in the last 5m window)", flush=True)
        for v in dash.get("templating", {}).get("list", []):
            if v.get("type") != "query":
                continue
            query = v.get("query")
            if isinstance(query, dict):
                query = query.get("query")
            label = f"prom: {name} / variable ${v.get('name')} {query}"
            m = re.fullmatch(r"\s*label_values\((?:(.*),\s*)?([A-Za-z_][A-Za-z0-9_]*)\)\s*", query or "")
            if m:
                params = {"match[]": substitute(m.group(1))} if m.group(1) else {}
                r = prom_get(base, f"/api/v1/label/{m.group(2)}/values", **params)
                ok = r.get("status") == "success" and len(r.get("data", [])) > 0
                check(ok, label, f"status {r.get('status')} values {r.get('data')} {r.get('error', '')}")
                if ok:
                    print(f"      values: {r['data']}")
            else:
                r = prom_get(base, "/api/v1/query", query=substitute(query or ""))
                check(r.get("status") == "success" and len(r["data"]["result"]) > 0, label,
                      f"{r.get('status')} {r.get('error', '')}")


def json_path(args):
    value = json.load(sys.stdin)
    for key in args:
        value = value[int(key)] if isinstance(value, list) else value.get(key)
        if value is None:
            break
    print("" if value is None else (json.dumps(value) if isinstance(value, (dict, list)) else value))


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "ui":
        ui(*args)
    elif cmd == "prom":
        prom(args[0], args[1:])
    elif cmd == "json":
        json_path(args)
        return
    else:
        raise SystemExit(__doc__)
    print(f"summary: {passes} passed, {failures} failed", flush=True)
    sys.exit(min(failures, 100))


if __name__ == "__main__":
    main()
