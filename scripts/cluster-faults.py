#!/usr/bin/env python3
"""Three Latchkey instances on one PostgreSQL behind pgbouncer, under mixed traffic, through
a `kill -9` of one instance and a restart of the database (see docs/deploy.md).

Checks, and exits non-zero if one fails:
  1. no acknowledged write is lost (every user created with a 201 is there at the end);
  2. every logged-out token is refused on every instance within one second (the measured
     delays are reported);
  3. no 5xx except 503 while the database is down (plus a short grace for reconnecting);
  4. service resumes without restarting an instance (the two never killed are the same
     processes at the end and serve again).

Loopback only; every loop is bounded; about a minute. Standard library only.
Usage: scripts/cluster-faults.sh (starts PostgreSQL and pgbouncer, then runs this).
"""

import base64
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("LATCHKEY_BIN", os.path.join(ROOT, "target", "debug", "latchkey"))
OUT = os.path.join(ROOT, "target", "cluster")
DB = "latchkey_cluster"
DIRECT = f"postgres://postgres@127.0.0.1:5432/{DB}"
POOLED = f"postgres://postgres@127.0.0.1:6432/{DB}"
ADMIN_PASSWORD = "cluster-admin-password-1"
PASSWORD = "correct horse battery staple"
# How long after PostgreSQL is back a 503 is still accepted: pgbouncer and the pools reconnect.
GRACE_S = 5.0
REVOCATION_BOUND_S = 1.0


def log(msg):
    print(f"[cluster] {msg}", file=sys.stderr, flush=True)


def http(method, url, body=None, token=None, timeout=5):
    data = None
    headers = {}
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, ConnectionError, socket.timeout, TimeoutError) as e:
        return None, str(e).encode()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def psql(sql, db="postgres"):
    subprocess.run(
        ["psql", "-q", "-h", "127.0.0.1", "-p", "5432", "-U", "postgres", "-d", db, "-c", sql],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def pg_version():
    return sorted(os.listdir("/etc/postgresql"), key=lambda v: [int(x) for x in v.split(".")])[-1]


def pg_ctl(action):
    cmd = ["pg_ctlcluster", "--skip-systemctl-redirect", pg_version(), "main", action]
    if action == "stop":
        cmd += ["-m", "fast"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def pg_ready():
    return subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"]).returncode == 0


class Instance:
    def __init__(self, n, key):
        self.n = n
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.key = key
        self.proc = None
        self.down_since = None  # set while killed
        self.log_path = os.path.join(OUT, f"instance-{n}.log")

    def start(self):
        env = dict(os.environ)
        env.update(
            {
                "LATCHKEY_ADMIN_PASSWORD": ADMIN_PASSWORD,
                "LATCHKEY_ARGON2_MEMORY_KIB": "64",
                "LATCHKEY_ARGON2_ITERATIONS": "1",
                "LATCHKEY_KEY_ENCRYPTION_KEY": self.key,
                "LATCHKEY_LOG_FORMAT": "json",
                "RUST_LOG": "warn",
            }
        )
        args = [
            BIN, "serve", "--listen", f"127.0.0.1:{self.port}",
            "--database", POOLED, "--db-statement-cache", "0",
            "--database-listen-url", DIRECT, "--db-max-connections", "8",
            # One issuer for all: the load balancer's address (tokens name it).
            "--public-url", "http://latchkey.test",
            # Generous limits: this script is one address, and the limits are not its subject.
            "--rate-refresh-per-minute", "0", "--address-failure-limit", "100000",
        ]
        self.proc = subprocess.Popen(
            args, env=env, stdout=subprocess.DEVNULL, stderr=open(self.log_path, "ab")
        )
        # Bounded: 200 tries, 50 ms apart.
        for _ in range(200):
            status, _ = http("GET", self.base + "/readyz", timeout=1)
            if status == 200:
                self.down_since = None
                return
            time.sleep(0.05)
        raise SystemExit(f"cluster: instance {self.n} did not become ready (log: {self.log_path})")

    def kill(self):
        self.down_since = time.monotonic()
        self.proc.kill()  # SIGKILL
        self.proc.wait()


class Record:
    def __init__(self):
        self.lock = threading.Lock()
        self.events = []  # (t, what, instance, status)
        self.acked = []  # usernames created with 201
        self.delays = []  # revocation delays, seconds
        self.failures = []

    def add(self, t, what, inst, status):
        with self.lock:
            self.events.append((t, what, inst, status))

    def fail(self, msg):
        with self.lock:
            self.failures.append(msg)


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    if not os.access(BIN, os.X_OK):
        raise SystemExit(f"cluster: no binary at {BIN} (cargo build first, or set LATCHKEY_BIN)")
    psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    psql(f"CREATE DATABASE {DB}")
    key = base64.b64encode(os.urandom(32)).decode()
    insts = [Instance(n, key) for n in range(3)]
    for i in insts:
        i.start()
    log("three instances ready behind pgbouncer: " + ", ".join(i.base for i in insts))
    pids = [i.proc.pid for i in insts]

    status, body = http(
        "POST", insts[0].base + "/v1/auth/login", {"identifier": "admin", "password": ADMIN_PASSWORD}
    )
    if status != 200:
        raise SystemExit(f"cluster: admin login answered {status}: {body[:200]!r}")
    admin = json.loads(body)["access_token"]
    for u in ["reader", "prober"]:
        status, body = http(
            "POST", insts[0].base + "/v1/users",
            {"username": u, "email": f"{u}@example.com", "password": PASSWORD}, token=admin,
        )
        if status != 201:
            raise SystemExit(f"cluster: creating {u} answered {status}: {body[:200]!r}")
    status, body = http(
        "POST", insts[1].base + "/v1/auth/login", {"identifier": "reader", "password": PASSWORD}
    )
    reader = json.loads(body)["access_token"]

    rec = Record()
    stop = threading.Event()
    db = {"down": None, "up": None}
    t0 = time.monotonic()

    def live():
        return [i for i in insts if i.down_since is None]

    def call(what, method, path, body=None, token=None, inst=None):
        inst = inst or random.choice(live())
        status, data = http(method, inst.base + path, body, token)
        rec.add(time.monotonic(), what, inst.n, status)
        return status, data, inst

    def reads():
        # Bounded: at most 20,000 requests per worker (the run stops far sooner).
        for _ in range(20_000):
            if stop.is_set():
                return
            call("me", "GET", "/v1/me", token=reader)

    def lists():
        for k in range(20_000):
            if stop.is_set():
                return
            if k % 2:
                call("search", "GET", "/v1/users?per_page=20&q=user", token=admin)
            else:
                call("page", "GET", f"/v1/users?per_page=5&page={1 + k % 7}", token=admin)

    def writes(w):
        for k in range(20_000):
            if stop.is_set():
                return
            name = f"w{w}user{k}"
            status, _, _ = call(
                "create", "POST", "/v1/users",
                {"username": name, "email": f"{name}@example.com", "password": PASSWORD}, admin,
            )
            if status == 201:
                with rec.lock:
                    rec.acked.append(name)

    def sessions():
        # Log in, refresh, log out on one instance; every other live instance must refuse the
        # access token within a second.
        for _ in range(2_000):
            if stop.is_set():
                return
            status, body, home = call(
                "login", "POST", "/v1/auth/login", {"identifier": "prober", "password": PASSWORD}
            )
            if status != 200:
                time.sleep(0.05)
                continue
            tokens = json.loads(body)
            status, body, _ = call(
                "refresh", "POST", "/v1/auth/refresh",
                {"refresh_token": tokens["refresh_token"]}, inst=home,
            )
            if status == 200:
                tokens = json.loads(body)
            token = tokens["access_token"]
            others = [i for i in live() if i is not home]
            warm = [call("me", "GET", "/v1/me", token=token, inst=i)[0] for i in others]
            status, _, _ = call("logout", "POST", "/v1/auth/logout", token=token, inst=home)
            if status != 204:
                continue  # the database is down: nothing was logged out
            out = time.monotonic()
            for i, w in zip(others, warm):
                if w != 200:
                    continue
                # Bounded: 3 s of polls, 10 ms apart.
                for _ in range(300):
                    status, _ = http("GET", i.base + "/v1/me", token=token, timeout=2)
                    if status == 401:
                        rec.delays.append(time.monotonic() - out)
                        break
                    if status is None and i.down_since is not None:
                        break
                    time.sleep(0.01)
                else:
                    rec.fail(f"a logged-out token still worked on instance {i.n} after 3 s")
            time.sleep(0.05)

    threads = [threading.Thread(target=reads) for _ in range(3)]
    threads += [threading.Thread(target=lists)]
    threads += [threading.Thread(target=writes, args=(w,)) for w in range(2)]
    threads += [threading.Thread(target=sessions)]
    for t in threads:
        t.start()

    def at(s):
        time.sleep(max(0.0, t0 + s - time.monotonic()))

    at(6)
    victim = insts[2]
    log(f"kill -9 instance {victim.n} (pid {victim.proc.pid})")
    victim.kill()
    killed_at = victim.down_since
    at(11)
    log(f"starting instance {victim.n} again")
    victim.start()
    restarted_at = time.monotonic()
    at(16)
    log("restarting PostgreSQL")
    db["down"] = time.monotonic()
    pg_ctl("stop")
    time.sleep(2)
    pg_ctl("start")
    for _ in range(100):  # bounded: 10 s
        if pg_ready():
            break
        time.sleep(0.1)
    db["up"] = time.monotonic()
    log(f"PostgreSQL back after {db['up'] - db['down']:.1f} s")
    at(db["up"] - t0 + 12)
    stop.set()
    for t in threads:
        t.join(timeout=30)

    # 3. Statuses: 5xx only 503 and only while the database was down (plus the grace);
    # connection errors only to the killed instance while it was down.
    last_503 = None
    counts = {}
    for t, what, inst, status in rec.events:
        counts[status] = counts.get(status, 0) + 1
        if status is None:
            if not (inst == victim.n and killed_at - 0.1 <= t <= restarted_at):
                rec.fail(f"{what} on instance {inst} could not connect at t={t - t0:.2f} s")
        elif status >= 500:
            in_window = db["down"] - 0.1 <= t <= db["up"] + GRACE_S
            if status != 503 or not in_window:
                rec.fail(f"{what} on instance {inst} answered {status} at t={t - t0:.2f} s")
            elif status == 503:
                last_503 = t if last_503 is None else max(last_503, t)

    # 4. Service resumed: the instances never killed are the same processes and serve.
    for i, pid in zip(insts, pids):
        if i is victim:
            continue
        if i.proc.pid != pid or i.proc.poll() is not None:
            rec.fail(f"instance {i.n} is not the process it was")
    for i in insts:
        status, _ = http("GET", i.base + "/readyz")
        if status != 200:
            rec.fail(f"instance {i.n} /readyz answered {status} at the end")
    after = [e for e in rec.events if e[0] > db["up"] + GRACE_S]
    ok_after = sum(1 for e in after if e[3] is not None and e[3] < 500)
    if ok_after == 0:
        rec.fail("no request succeeded after the database came back")

    # 1. Acknowledged writes.
    lost = []
    for name in rec.acked:
        status, body = http("GET", insts[0].base + f"/v1/users?q={name}&per_page=5", token=admin)
        if status != 200:
            rec.fail(f"looking up {name} answered {status}")
            break
        if not any(u["username"] == name for u in json.loads(body)["items"]):
            lost.append(name)
    if lost:
        rec.fail(f"{len(lost)} acknowledged writes lost, e.g. {lost[:3]}")

    # 2. Revocation delays.
    delays = sorted(rec.delays)
    if not delays:
        rec.fail("no logout was measured")
    else:
        p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
        if delays[-1] > REVOCATION_BOUND_S:
            rec.fail(f"a logout took {delays[-1] * 1000:.0f} ms to reach another instance")

    for i in insts:
        if i.proc.poll() is None:
            i.proc.terminate()
            try:
                i.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                i.proc.kill()
    psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")

    summary = {
        "requests": len(rec.events),
        "statuses": {str(k): v for k, v in sorted(counts.items(), key=lambda kv: str(kv[0]))},
        "db_down_s": round(db["up"] - db["down"], 2),
        "last_503_after_db_up_s": round(last_503 - db["up"], 2) if last_503 else None,
        "acknowledged_writes": len(rec.acked),
        "lost_writes": len(lost),
        "logouts_measured": len(delays),
        "revocation_p50_ms": round(delays[len(delays) // 2] * 1000, 1) if delays else None,
        "revocation_p99_ms": round(p99 * 1000, 1) if delays else None,
        "revocation_max_ms": round(delays[-1] * 1000, 1) if delays else None,
    }
    print("cluster: " + json.dumps(summary))
    with open(os.path.join(OUT, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    if rec.failures:
        for m in rec.failures[:20]:
            print(f"cluster: FAILED: {m}", file=sys.stderr)
        return 1
    print("cluster: passed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
