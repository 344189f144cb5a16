#!/usr/bin/env python3
"""Soak test: mixed traffic from many concurrent clients against a release build, then the
invariants are checked. Loopback only; bounded in time (default 60 s) and in requests per
worker. Standard library only.

    scripts/soak.py                      # 60 s on a fresh SQLite file
    scripts/soak.py --duration 20 --workers 32
    scripts/soak.py --database postgres://postgres@127.0.0.1/latchkey_soak   # an empty database

Traffic: sign-ups, logins (right and wrong passwords), token-checked reads, role changes,
logouts, deletions, and garbage (malformed JSON, wrong types, forged tokens, unknown routes,
oversized bodies). Checked afterwards: no 5xx; no request slower than --ceiling-ms; the number
of users equals successful creations minus deletions (plus the admin); every logged-out token is
refused; the audit log holds one event per state change. Prints one line and exits non-zero on
any violation.
"""

import argparse
import http.client
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADMIN_PASSWORD = "soak-admin-" + secrets.token_hex(8)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    def __init__(self, port):
        self.port = port
        self.conn = None

    def call(self, method, path, body=None, token=None, raw=None, ctype="application/json"):
        headers = {}
        if token:
            headers["Authorization"] = "Bearer " + token
        data = None
        if raw is not None:
            data, headers["Content-Type"] = raw, ctype
        elif body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            started = time.monotonic()
            try:
                self.conn.request(method, path, body=data, headers=headers)
                res = self.conn.getresponse()
                payload = res.read()
            except (ConnectionError, http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise
                continue
            elapsed = (time.monotonic() - started) * 1000
            try:
                parsed = json.loads(payload) if payload else None
            except ValueError:
                parsed = None
            return res.status, parsed, elapsed
        raise RuntimeError("unreachable")


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies = []
        self.statuses = {}
        self.created = []  # (id, username)
        self.deleted = 0
        self.logged_out = []
        self.logouts = 0
        self.assigned = 0
        self.unassigned = 0
        self.server_errors = []

    def record(self, what, status, ms):
        with self.lock:
            self.latencies.append(ms)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status >= 500:
                self.server_errors.append((what, status))


def worker(port, admin_token, stats, deadline, seed, max_requests):
    rnd = random.Random(seed)
    c = Client(port)
    mine = []  # (username, token)
    n = 0
    while time.monotonic() < deadline and n < max_requests:
        n += 1
        op = rnd.random()
        if op < 0.15 or not mine:
            name = "s%d_%s" % (seed, secrets.token_hex(4))
            st, body, ms = c.call("POST", "/v1/auth/register", {"username": name, "email": name + "@example.com", "password": "soak-password-" + name})
            stats.record("register", st, ms)
            if st == 201:
                with stats.lock:
                    stats.created.append((body["id"], name))
                mine.append((name, None))
        elif op < 0.30:
            name, _ = rnd.choice(mine)
            wrong = rnd.random() < 0.3
            pw = "nope-nope-nope" if wrong else "soak-password-" + name
            st, body, ms = c.call("POST", "/v1/auth/login", {"identifier": name, "password": pw})
            stats.record("login", st, ms)
            if st == 200:
                mine = [(n_, body["access_token"] if n_ == name else t) for n_, t in mine]
        elif op < 0.60:
            tokens = [t for _, t in mine if t]
            if not tokens:
                continue
            st, _, ms = c.call("GET", rnd.choice(["/v1/me", "/compat/citizen-portal/auth/profile", "/compat/user-profiles/protected"]), token=rnd.choice(tokens))
            stats.record("read", st, ms)
        elif op < 0.70:
            with stats.lock:
                if not stats.created:
                    continue
                uid, _ = rnd.choice(stats.created)
            st, _, ms = c.call("POST", "/v1/users/%d/roles" % uid, {"role": "soaker"}, token=admin_token)
            stats.record("assign", st, ms)
            if st == 201:
                with stats.lock:
                    stats.assigned += 1
            st, _, ms = c.call("DELETE", "/v1/users/%d/roles/soaker" % uid, token=admin_token)
            stats.record("unassign", st, ms)
            if st == 204:
                with stats.lock:
                    stats.unassigned += 1
        elif op < 0.78:
            with_token = [(n_, t) for n_, t in mine if t]
            if not with_token:
                continue
            name, token = rnd.choice(with_token)
            st, _, ms = c.call("POST", "/v1/auth/logout", token=token)
            stats.record("logout", st, ms)
            if st == 204:
                with stats.lock:
                    stats.logged_out.append(token)
                    stats.logouts += 1
                mine = [(n_, None if t == token else t) for n_, t in mine]
        elif op < 0.83:
            name, _ = mine.pop(rnd.randrange(len(mine)))
            with stats.lock:
                found = [u for u in stats.created if u[1] == name]
            if not found:
                continue
            st, _, ms = c.call("DELETE", "/v1/users/%d" % found[0][0], token=admin_token)
            stats.record("delete", st, ms)
            if st == 204:
                with stats.lock:
                    stats.created.remove(found[0])
                    stats.deleted += 1
        else:
            kind = rnd.randrange(6)
            if kind == 0:
                st, _, ms = c.call("POST", "/v1/auth/login", raw=b'{"identifier": ', ctype="application/json")
            elif kind == 1:
                st, _, ms = c.call("POST", "/v1/users", {"username": 5, "email": [], "password": None}, token=admin_token)
            elif kind == 2:
                st, _, ms = c.call("GET", "/v1/me", token="eyJhbGciOiJub25lIn0.e30.")
            elif kind == 3:
                st, _, ms = c.call("GET", "/v1/" + secrets.token_hex(3))
            elif kind == 4:
                st, _, ms = c.call("POST", "/compat/org-users/users/login", raw=os.urandom(70 * 1024), ctype="application/json")
            else:
                st, _, ms = c.call("POST", "/compat/role-assignments/api/v1/roles", raw=b"x=1", ctype="text/plain", token=admin_token)
            stats.record("garbage", st, ms)


def percentile(values, p):
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p / 100))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=60, help="seconds of traffic (default 60)")
    ap.add_argument("--workers", type=int, default=16, help="concurrent clients (default 16)")
    ap.add_argument("--max-requests", type=int, default=100_000, help="per worker, a bound on top of the duration")
    ap.add_argument("--database", help="database URL (default: a fresh SQLite file)")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "latchkey"))
    ap.add_argument("--ceiling-ms", type=float, default=2000, help="no request may take longer")
    args = ap.parse_args()
    args.binary = os.path.abspath(args.binary)

    if not os.path.exists(args.binary):
        subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "latchkey"], cwd=ROOT, check=True)
    tmp = tempfile.mkdtemp(prefix="latchkey-soak-")
    database = args.database or os.path.join(tmp, "soak.db")
    port = free_port()
    env = dict(os.environ,
               LATCHKEY_ADMIN_PASSWORD=ADMIN_PASSWORD,
               LATCHKEY_DATABASE_URL=database,
               LATCHKEY_LISTEN="127.0.0.1:%d" % port,
               # One client address sends everything: the per-address limits would throttle
               # the soak itself. Locking per identifier stays on.
               LATCHKEY_ADDRESS_FAILURE_LIMIT="0",
               LATCHKEY_RATE_REGISTER_PER_HOUR="0",
               LATCHKEY_RATE_REFRESH_PER_MINUTE="0",
               LATCHKEY_RATE_PASSWORD_PER_HOUR="0",
               RUST_LOG="warn")
    server = subprocess.Popen([args.binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp)
    try:
        c = Client(port)
        for _ in range(200):
            try:
                if c.call("GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            print("soak: FAILED server did not start")
            return 1
        st, body, _ = c.call("POST", "/v1/auth/login", {"identifier": "admin", "password": ADMIN_PASSWORD})
        if st != 200:
            print("soak: FAILED admin login %d (is the database empty?)" % st)
            return 1
        admin = body["access_token"]

        stats = Stats()
        started = time.monotonic()
        deadline = started + args.duration
        threads = [threading.Thread(target=worker, args=(port, admin, stats, deadline, i, args.max_requests)) for i in range(args.workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=args.duration + 120)
        elapsed = time.monotonic() - started

        problems = []
        if stats.server_errors:
            problems.append("5xx: %s" % stats.server_errors[:5])
        worst = max(stats.latencies or [0])
        if worst > args.ceiling_ms:
            problems.append("slowest request %.0f ms > ceiling %.0f ms" % (worst, args.ceiling_ms))
        st, body, _ = c.call("GET", "/v1/users?per_page=1", token=admin)
        users = body["total"] if st == 200 else -1
        expected = 1 + len(stats.created)
        if users != expected:
            problems.append("users %d != 1 + creations - deletions = %d" % (users, expected))
        still_valid = sum(1 for t in stats.logged_out if c.call("GET", "/v1/me", token=t)[0] != 401)
        if still_valid:
            problems.append("%d logged-out tokens still accepted" % still_valid)

        def audit_count(action):
            st, body, _ = c.call("GET", "/v1/audit?per_page=1&action=" + action, token=admin)
            return body["total"] if st == 200 else -1

        creations = len(stats.created) + stats.deleted
        for action, want in [("user.created", creations + 1), ("user.deleted", stats.deleted),
                             ("logout", stats.logouts), ("assignment.created", stats.assigned),
                             ("assignment.deleted", stats.unassigned)]:
            got = audit_count(action)
            if got != want:
                problems.append("audit %s: %d events for %d changes" % (action, got, want))

        n = len(stats.latencies)
        print("soak: %s duration_s=%.0f workers=%d requests=%d rps=%.0f p50_ms=%.1f p99_ms=%.1f max_ms=%.1f "
              "errors_5xx=%d users=%d created=%d deleted=%d logouts=%d statuses=%s%s" % (
                  "ok" if not problems else "FAILED", elapsed, args.workers, n, n / elapsed if elapsed else 0,
                  percentile(stats.latencies, 50), percentile(stats.latencies, 99), worst,
                  len(stats.server_errors), users, creations, stats.deleted, stats.logouts,
                  json.dumps(dict(sorted(stats.statuses.items())), separators=(",", ":")),
                  "" if not problems else " problems=" + "; ".join(problems)))
        return 0 if not problems else 1
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    sys.exit(main())
