#!/usr/bin/env python3
"""Latchkey's benchmark harness. Run it through bench/run.sh, which builds what it needs.

Starts a bare axum baseline and Latchkey (release builds) on loopback, seeds users straight into
a fresh database, drives each scenario with wrk, prints a table, writes it into
docs/performance.md (between markers, so the hand-written analysis stays) and ends with the
`bench: ...` line. It reports; it never fails on a figure. It fails only when a scenario cannot
run (a server that will not start, a request that errors), because then the figure would lie.

Every load goes to 127.0.0.1 and every wrk run is bounded by its duration.
"""

import argparse
import base64
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from http.client import HTTPConnection

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LUA = os.path.join(ROOT, "bench", "lua")
RELEASE = os.path.join(ROOT, "target", "release")
LATCHKEY = os.path.join(RELEASE, "latchkey")
BASELINE = os.path.join(RELEASE, "examples", "bench_baseline")
SEED = os.path.join(RELEASE, "examples", "bench_seed")
DOC = os.path.join(ROOT, "docs", "performance.md")

HOST = "127.0.0.1"
BASE_PORT = 18080
LK_PORT = 18081
PASSWORD = "bench-Passphrase-71"
ADMIN = "benchadmin"
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
PG_DB = "latchkey_bench"


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ----- HTTP helpers -----------------------------------------------------------------------


def http(method, url, body=None, token=None, timeout=10):
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


def lk(path):
    return f"http://{HOST}:{LK_PORT}{path}"


def must(status, body, what):
    if status != 200:
        raise SystemExit(f"bench: {what} answered {status}: {body[:300]!r}")
    return json.loads(body)


# ----- processes ----------------------------------------------------------------------------


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def port_free(port):
    import socket

    with socket.socket() as sock:
        if sock.connect_ex((HOST, port)) == 0:
            raise SystemExit(f"bench: something already listens on {HOST}:{port}; stop it first")


def wait_http(url, proc, deadline_s=30.0, interval=0.002):
    """Polls `url` until 200; returns seconds waited. Bounded by `deadline_s`."""
    start = time.perf_counter()
    while time.perf_counter() - start < deadline_s:
        if proc.poll() is not None:
            raise SystemExit(f"bench: server exited with {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return time.perf_counter() - start
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(interval)
    raise SystemExit(f"bench: {url} not ready after {deadline_s} s")


def stop(proc):
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Latchkey:
    def __init__(self, db_url, workdir):
        self.db_url = db_url
        self.workdir = workdir
        self.proc = None
        self.env = dict(os.environ)
        self.env.update(
            {
                "LATCHKEY_DATABASE_URL": db_url,
                "LATCHKEY_LISTEN": f"{HOST}:{LK_PORT}",
                # The harness is one client address doing thousands of refreshes a second;
                # the per-address limits would (correctly) refuse it.
                "LATCHKEY_RATE_REFRESH_PER_MINUTE": "0",
                "LATCHKEY_RATE_REGISTER_PER_HOUR": "0",
            }
        )
        self.env.pop("RUST_LOG", None)

    def cli(self, *args, stdin=None):
        r = subprocess.run(
            [LATCHKEY, *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if r.returncode != 0:
            raise SystemExit(f"bench: latchkey {' '.join(args)} failed: {r.stderr.strip()}")
        return r.stdout

    def start(self):
        """Starts the server; returns milliseconds from exec to /readyz 200."""
        port_free(LK_PORT)
        logf = open(os.path.join(self.workdir, "latchkey.log"), "ab")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [LATCHKEY, "serve"], env=self.env, stdout=logf, stderr=subprocess.STDOUT
        )
        wait_http(lk("/readyz"), self.proc)
        return (time.perf_counter() - t0) * 1000.0

    def stop(self):
        stop(self.proc)
        self.proc = None


# ----- wrk ----------------------------------------------------------------------------------


def wrk(url, script, conns, threads, seconds, env=None, background=False):
    """Runs wrk with `script` + report.lua; returns the parsed figures (or the Popen)."""
    src = os.path.join(LUA, script)
    combined = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    with open(src) as a, open(os.path.join(LUA, "report.lua")) as b:
        combined.write(a.read() + "\n" + b.read())
    combined.close()
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{conns}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        combined.name,
        url,
    ]
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.Popen(cmd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if background:
        return proc
    return wrk_result(proc, url)


def wrk_result(proc, url):
    out, err = proc.communicate(timeout=600)
    m = re.search(r"BENCH_JSON (\{.*\})", out)
    if proc.returncode != 0 or not m:
        raise SystemExit(f"bench: wrk on {url} failed ({proc.returncode}): {err.strip()} {out[-500:]}")
    r = json.loads(m.group(1))
    errors = sum(v for k, v in r.items() if k.startswith("errors_"))
    if errors:
        raise SystemExit(f"bench: wrk on {url} saw errors: {r}")
    secs = r["duration_us"] / 1e6
    return {
        "rps": r["requests"] / secs,
        "requests": r["requests"],
        "p50_ms": r["p50_us"] / 1000.0,
        "p90_ms": r["p90_us"] / 1000.0,
        "p99_ms": r["p99_us"] / 1000.0,
        "max_ms": r["max_us"] / 1000.0,
    }


# ----- the run ------------------------------------------------------------------------------


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_gib = int(line.split()[1]) / 1024 / 1024
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    wrk_v = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    wrk_v = (wrk_v.stdout + wrk_v.stderr).strip().splitlines()[0] if (wrk_v.stdout + wrk_v.stderr) else "wrk"
    commit = subprocess.run(
        ["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "mem_gib": round(mem_gib, 1),
        "kernel": platform.release(),
        "rustc": rustc,
        "wrk": wrk_v.split(" Copyright")[0],
        "commit": commit + ("+changes" if dirty else ""),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def fresh_database(backend, workdir):
    if backend == "sqlite":
        return f"sqlite:{os.path.join(workdir, 'bench.db')}"
    psql = ["psql", PG_ADMIN_URL, "-v", "ON_ERROR_STOP=1", "-q", "-c"]
    subprocess.run(psql + [f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"], check=True)
    subprocess.run(psql + [f"CREATE DATABASE {PG_DB}"], check=True)
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + PG_DB


def reused_database(backend, users):
    """The database an earlier run seeded, if it holds exactly the seeded users and the admin
    (a run that got further has written to it, and its figures would not compare)."""
    if backend != "postgres":
        raise SystemExit("bench: --reuse is for PostgreSQL (a SQLite run's file is in its work directory)")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + PG_DB
    out = subprocess.run(["psql", url, "-qAt", "-c", "SELECT n FROM row_counts WHERE name = 'users'"],
                         capture_output=True, text=True)
    if out.returncode != 0 or out.stdout.strip() != str(users + 1):
        raise SystemExit(f"bench: --reuse needs {PG_DB} with {users + 1} users, found {out.stdout.strip() or out.stderr.strip()!r}")
    return url


def login(identifier, password=PASSWORD):
    return must(
        *http("POST", lk("/v1/auth/login"), {"identifier": identifier, "password": password}),
        f"login as {identifier}",
    )


def run(args):
    quick = args.quick
    users = args.users or (100_000 if quick else 1_000_000)
    secs = args.seconds or (5 if quick else 10)
    backend = "postgres" if args.pg else "sqlite"
    cores = os.cpu_count() or 1
    mode = f"{'quick' if quick else 'full'}-{backend}"
    if args.users and args.users >= 10_000_000:
        mode = f"{args.users // 1_000_000}m-{backend}"  # its own block beside the 1M runs
    log(f"mode {mode}: {users} users, {secs} s per load test, {cores} cores")
    workdir = tempfile.mkdtemp(prefix="latchkey-bench-")
    results = {"machine": machine(), "users": users, "seconds": secs, "backend": backend}
    baseline = lkp = storm = None
    try:
        # Baseline.
        port_free(BASE_PORT)
        baseline = subprocess.Popen([BASELINE, f"{HOST}:{BASE_PORT}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_http(f"http://{HOST}:{BASE_PORT}/hello", baseline)
        results["baseline_idle_rss_mib"] = rss_kib(baseline.pid) / 1024
        # The baseline stays up: the read test alternates with it (below).

        # Database: migrate, an admin, the seeded users.
        if args.reuse is not None:
            # PostgreSQL's database as an earlier run seeded it and stopped before writing.
            db_url = reused_database(backend, users)
            lkp = Latchkey(db_url, workdir)
            lkp.cli("migrate")
            results["seed_s"] = args.reuse
            log(f"reusing {users} seeded users (seeded in {args.reuse:.1f} s by an earlier run)")
        else:
            db_url = fresh_database(backend, workdir)
            lkp = Latchkey(db_url, workdir)
            lkp.cli("migrate")
            lkp.cli("user", "create", "--username", ADMIN, "--email", "admin@bench.test", "--admin", "--password-stdin", stdin=PASSWORD + "\n")
            t = time.perf_counter()
            subprocess.run([SEED, "seed", db_url, str(users), PASSWORD], check=True)
            results["seed_s"] = time.perf_counter() - t
            log(f"seeded {users} users in {results['seed_s']:.1f} s")
        # Let the kernel write the new database out now, not during the load tests.
        os.sync()
        time.sleep(2)
        results["disk_mib"] = database_mib(backend, db_url, workdir)
        log(f"database on disk: {results['disk_mib']:,.0f} MiB")

        # Start-up on the existing database: median of 5.
        starts = []
        for _ in range(5):
            starts.append(lkp.start())
            lkp.stop()
        results["startup_ms"] = statistics.median(starts)
        lkp.start()
        time.sleep(1.0)
        results["idle_rss_mib"] = rss_kib(lkp.proc.pid) / 1024
        log(f"start-up {results['startup_ms']:.0f} ms (runs {[round(s) for s in starts]}), idle RSS {results['idle_rss_mib']:.1f} MiB")

        # Tokens: a seeded (non-admin) user for reads, the admin for lists.
        user = first_seeded_user(lkp)
        user_tokens = login(user)
        admin_token = login(ADMIN)["access_token"]
        cp = must(
            *http("POST", lk("/compat/citizen-portal/auth/login"), {"emailOrUsername": user, "password": PASSWORD}),
            "citizen-portal login",
        )

        # Reads, alternating with the baseline: three rounds, the round with the median ratio
        # is reported (the load generator shares the cores, so one pair alone is noisy).
        rounds = []
        for i in range(3):
            b = wrk(f"http://{HOST}:{BASE_PORT}/hello", "get.lua", 64, 2, secs)
            rd = wrk(lk("/v1/me"), "get.lua", 64, 2, secs, env={"BENCH_TOKEN": user_tokens["access_token"]})
            rounds.append((rd["rps"] / b["rps"], b, rd))
            log(f"round {i + 1}: baseline {b['rps']:.0f} req/s, /v1/me {rd['rps']:.0f} req/s (ratio {rd['rps'] / b['rps']:.2f}, p99 {rd['p99_ms']:.2f} ms)")
        rounds.sort(key=lambda x: x[0])
        _, results["baseline"], results["read"] = rounds[1]
        results["read_ratios"] = [round(x[0], 2) for x in rounds]
        stop(baseline)
        baseline = None
        results["read_dialect"] = wrk(
            lk("/compat/citizen-portal/auth/profile"), "get.lua", 64, 2, secs, env={"BENCH_TOKEN": cp["access_token"]}
        )
        results["load_rss_mib"] = rss_kib(lkp.proc.pid, "VmHWM") / 1024
        log(f"read citizen-portal {results['read_dialect']['rps']:.0f} req/s; peak RSS {results['load_rss_mib']:.1f} MiB")

        # argon2id ceiling: cores / (one hash with Latchkey's own hasher, default parameters),
        # timed with the server idle right before the login test and again right after it (the
        # mean of the two medians): one hash's time drifts by several per cent over a run on a
        # shared host, and the ceiling should describe the machine the login test saw.
        def hash_time():
            return float(subprocess.run([SEED, "hash-time", "15"], capture_output=True, text=True, check=True).stdout)

        hash_before = hash_time()
        # What a core gets when every core hashes at once (shared cache and memory bandwidth).
        par_ms = float(
            subprocess.run([SEED, "hash-parallel", str(cores), "10"], capture_output=True, text=True, check=True).stdout
        )
        results["hash_parallel_ms"] = par_ms
        results["login_parallel_ceiling"] = cores / (par_ms / 1000.0)

        # Logins, at concurrency 8, spread over 1000 seeded users.
        names = seeded_users(lkp, admin_token, 1000)
        results["login"] = wrk(lk("/v1/auth/login"), "login.lua", 8, 2, secs, env={"BENCH_USERS": "|".join(names), "BENCH_PASSWORD": PASSWORD})
        hash_after = hash_time()
        hash_ms = (hash_before + hash_after) / 2
        results["hash_ms"] = hash_ms
        results["hash_ms_around"] = (hash_before, hash_after)
        results["login_ceiling"] = cores / (hash_ms / 1000.0)
        log(
            f"argon2id hash {hash_before:.1f} ms before, {hash_after:.1f} ms after the login test -> "
            f"ceiling {results['login_ceiling']:.1f} logins/s; {par_ms:.1f} ms with {cores} hashing at once "
            f"-> {results['login_parallel_ceiling']:.1f} logins/s"
        )
        log(f"login {results['login']['rps']:.1f}/s")

        # Refresh: 16 sessions, one rotation chain per connection.
        refresh_tokens = [login(n)["refresh_token"] for n in names[:16]]
        results["refresh"] = wrk(lk("/v1/auth/refresh"), "refresh.lua", 16, 16, secs, env={"BENCH_REFRESH": "|".join(refresh_tokens)})
        log(f"refresh {results['refresh']['rps']:.0f}/s p99 {results['refresh']['p99_ms']:.2f} ms")

        # Client credentials: one machine client, HTTP Basic, c=16.
        st, raw = http("POST", lk("/v1/clients"), {"name": "bench machine", "grant_types": ["client_credentials"], "scopes": ["bench:read"]}, token=admin_token)
        body = must(200 if st == 201 else st, raw, "register a machine client")
        basic = "Basic " + base64.b64encode(f"{body['client_id']}:{body['client_secret']}".encode()).decode()
        results["client_credentials"] = wrk(lk("/oauth/token"), "client_credentials.lua", 16, 2, secs, env={"BENCH_BASIC": basic})
        log(f"client credentials {results['client_credentials']['rps']:.0f}/s p99 {results['client_credentials']['p99_ms']:.2f} ms")

        # OpenID Connect: a first-party client, a browser signed in at the hosted page.
        results.update(oidc_scenarios(admin_token, user, secs))

        # Login storm beside the read test.
        storm = wrk(
            lk("/v1/auth/login"), "login.lua", 32, 1, secs + 2, env={"BENCH_USERS": "|".join(names), "BENCH_PASSWORD": PASSWORD}, background=True
        )
        time.sleep(1.0)
        results["storm_read"] = wrk(lk("/v1/me"), "get.lua", 64, 2, secs, env={"BENCH_TOKEN": user_tokens["access_token"]})
        results["storm_login"] = wrk_result(storm, "login storm")
        storm = None
        log(f"storm: read p99 {results['storm_read']['p99_ms']:.2f} ms at {results['storm_read']['rps']:.0f} req/s beside {results['storm_login']['rps']:.1f} logins/s")

        # Lists and search as the admin, concurrency 4.
        token_env = {"BENCH_TOKEN": admin_token}
        results["list"] = wrk(lk("/v1/users?per_page=20"), "get.lua", 4, 2, secs, env=token_env)
        deep_page = users // 20
        last_id = int(json.loads(http("GET", lk("/v1/users?per_page=1&sort=-id"), token=admin_token)[1])["items"][0]["id"])
        after = last_id - 20
        cursor = base64.urlsafe_b64encode(f"i:{after}:{after}".encode()).decode().rstrip("=")
        deep_url = lk(f"/v1/users?per_page=20&cursor={cursor}")
        check = must(*http("GET", deep_url, token=admin_token), "deep page")
        if len(check["items"]) != 20:
            raise SystemExit(f"bench: the deep page has {len(check['items'])} users, not 20")
        results["deep"] = wrk(deep_url, "get.lua", 4, 2, secs, env=token_env)
        results["deep_page_no"] = deep_page
        # The same deep page on a page-numbered dialect (user-profiles), answered from the rank
        # anchors (migration 0015): `numbered_page_p99_ms`.
        up_url = lk(f"/compat/user-profiles/users/pagination?page={deep_page}&per_page=20")
        check = must(*http("GET", up_url, token=admin_token), "user-profiles deep page")
        if len(check["users"]) == 0:
            raise SystemExit("bench: the user-profiles deep page is empty")
        results["deep_offset"] = wrk(up_url, "get.lua", 4, 2, secs, env=token_env)
        terms = ["garcia", "maria.lopez", "tomas.n", "kowalski", "7741", "sofia.tan", "haddad", "yusuf"]
        paths = "|".join(f"/v1/users?per_page=20&q={t}" for t in terms)
        for t in terms:
            must(*http("GET", lk(f"/v1/users?per_page=20&q={t}"), token=admin_token), f"search {t}")
        results["search"] = wrk(lk("/v1/users"), "paths.lua", 4, 2, secs, env={**token_env, "BENCH_PATHS": paths})
        results["search_terms"] = terms
        # The console's users page with the same searches, as the signed-in admin's browser
        # (server-rendered HTML: the search, the filters' role and organization lists, a page).
        console_env = {"BENCH_COOKIE": browser_cookie(ADMIN), "BENCH_PATHS": "|".join(f"/console/users?q={t}" for t in terms)}
        conn = HTTPConnection(HOST, LK_PORT, timeout=10)
        conn.request("GET", f"/console/users?q={terms[0]}", headers={"Cookie": console_env["BENCH_COOKIE"]})
        cr = conn.getresponse()
        if cr.status != 200 or b"Search users" not in cr.read():
            raise SystemExit(f"bench: the console's users page answered {cr.status}")
        results["console_users"] = wrk(lk("/console/users"), "paths.lua", 4, 2, secs, env=console_env)
        log(
            f"list p99 {results['list']['p99_ms']:.2f} ms, deep p99 {results['deep']['p99_ms']:.2f} ms, "
            f"search p99 {results['search']['p99_ms']:.2f} ms, console users p99 {results['console_users']['p99_ms']:.2f} ms"
        )
        results["final_rss_mib"] = rss_kib(lkp.proc.pid, "VmHWM") / 1024

        # Import: 100,000 users with hashes of several origins, by the CLI, on this database
        # beside the running server (the fixtures' hashes: parsing and cost checks are the
        # work; verification waits for each user's first login).
        results.update(import_scenario(lkp, workdir, 100_000))
    finally:
        if storm is not None:
            storm.kill()
        stop(baseline)
        if lkp:
            lkp.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"kept {workdir}")
    return mode, results


def import_scenario(lkp, workdir, n):
    fixtures = json.load(open(os.path.join(ROOT, "crates", "latchkey-core", "fixtures", "hashes.json")))
    hashes = [f["hash"] for f in fixtures if "weak" not in f["format"]]
    path = os.path.join(workdir, "import.jsonl")
    with open(path, "w") as f:
        for i in range(n):
            rec = {
                "username": f"imported{i}",
                "email": f"imported{i}@import.test",
                "first_name": "Imported",
                "last_name": f"User {i}",
                "roles": ["user"] if i % 10 else ["user", "editor"],
                "organization": f"Org {i % 50}",
                "created_at": "2023-04-05T06:07:08.000Z",
                "password_hash": hashes[i % len(hashes)],
            }
            f.write(json.dumps(rec) + "\n")
    t = time.perf_counter()
    r = subprocess.run([LATCHKEY, "import", path], env=lkp.env, capture_output=True, text=True, timeout=600)
    secs = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"bench: the import failed: {r.stderr.strip()[-500:]}")
    created = sum(1 for line in r.stdout.splitlines() if '"created"' in line)
    if created != n:
        raise SystemExit(f"bench: the import created {created} of {n} users")
    log(f"import of {n:,} users in {secs:.1f} s ({n / secs:,.0f} users/s)")
    return {"import_s": secs, "import_n": n}


def database_mib(backend, db_url, workdir):
    """The database's size on disk after seeding: the SQLite file (and its WAL), or
    pg_database_size."""
    if backend == "sqlite":
        path = os.path.join(workdir, "bench.db")
        return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p)) / 2**20
    out = subprocess.run(
        ["psql", PG_ADMIN_URL, "-At", "-c", f"SELECT pg_database_size('{PG_DB}')"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    return int(out) / 2**20


def first_seeded_user(lkp):
    out = lkp.cli("user", "list", "--search", "@example.org", "--limit", "1")
    m = re.search(r"\b([a-z]+\.[a-z]+\d+)\b", out)
    if not m:
        raise SystemExit(f"bench: no seeded user in {out!r}")
    return m.group(1)


def seeded_users(lkp, admin_token, n):
    names = []
    cursor = None
    while len(names) < n:
        url = "/v1/users?per_page=100" + (f"&cursor={cursor}" if cursor else "")
        page = must(*http("GET", lk(url), token=admin_token), "list users")
        names += [u["username"] for u in page["items"] if u["username"] != ADMIN]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return names[:n]


def table(mode, r):
    b, rd = r["baseline"], r["read"]
    rows = [
        ("baseline: bare axum `GET /hello`, c=64 (median round)", f"{b['rps']:,.0f} req/s", f"{b['p50_ms']:.2f}", f"{b['p99_ms']:.2f}"),
        ("read: `GET /v1/me`, c=64 (median of 3 rounds alternating with the baseline)", f"{rd['rps']:,.0f} req/s ({rd['rps'] / b['rps']:.2f}× baseline; rounds {', '.join(f'{x:.2f}' for x in r['read_ratios'])})", f"{rd['p50_ms']:.2f}", f"{rd['p99_ms']:.2f}"),
        (
            "read: citizen-portal `GET /auth/profile`, c=64",
            f"{r['read_dialect']['rps']:,.0f} req/s ({r['read_dialect']['rps'] / b['rps']:.2f}× baseline)",
            f"{r['read_dialect']['p50_ms']:.2f}",
            f"{r['read_dialect']['p99_ms']:.2f}",
        ),
        (
            "login: `POST /v1/auth/login`, c=8",
            f"{r['login']['rps']:.1f}/s ({r['login']['rps'] / r['login_ceiling']:.2f}× argon2 ceiling {r['login_ceiling']:.1f}/s)",
            f"{r['login']['p50_ms']:.1f}",
            f"{r['login']['p99_ms']:.1f}",
        ),
        ("refresh: `POST /v1/auth/refresh` (rotation), c=16", f"{r['refresh']['rps']:,.0f}/s", f"{r['refresh']['p50_ms']:.2f}", f"{r['refresh']['p99_ms']:.2f}"),
        (
            "client credentials: `POST /oauth/token` (HTTP Basic), c=16",
            f"{r['client_credentials']['rps']:,.0f}/s",
            f"{r['client_credentials']['p50_ms']:.2f}",
            f"{r['client_credentials']['p99_ms']:.2f}",
        ),
        (
            "read during a login storm (c=64 reads + c=32 logins)",
            f"{r['storm_read']['rps']:,.0f} req/s beside {r['storm_login']['rps']:.1f} logins/s",
            f"{r['storm_read']['p50_ms']:.2f}",
            f"{r['storm_read']['p99_ms']:.2f}",
        ),
        (f"list: first page of 20 of {r['users']:,} users, c=4", f"{r['list']['rps']:,.0f} req/s", f"{r['list']['p50_ms']:.2f}", f"{r['list']['p99_ms']:.2f}"),
        (
            f"list: deep page (cursor for page {r['deep_page_no']:,}), c=4",
            f"{r['deep']['rps']:,.0f} req/s",
            f"{r['deep']['p50_ms']:.2f}",
            f"{r['deep']['p99_ms']:.2f}",
        ),
        (
            f"list: page {r['deep_page_no']:,} by page number (user-profiles dialect), c=4",
            f"{r['deep_offset']['rps']:,.0f} req/s",
            f"{r['deep_offset']['p50_ms']:.2f}",
            f"{r['deep_offset']['p99_ms']:.2f}",
        ),
        (f"search: `q=` over {len(r['search_terms'])} terms, c=4", f"{r['search']['rps']:,.0f} req/s", f"{r['search']['p50_ms']:.2f}", f"{r['search']['p99_ms']:.2f}"),
        (f"console: `/console/users?q=` (HTML, signed-in admin) over the same terms, c=4", f"{r['console_users']['rps']:,.0f} req/s", f"{r['console_users']['p50_ms']:.2f}", f"{r['console_users']['p99_ms']:.2f}"),
        (
            "OpenID round: authorize (signed in, first-party) + code exchange with an RS256 ID token, c=16 "
            "(latency per request)",
            f"{r['code_exchange']['rps']:,.0f} rounds/s",
            f"{r['code_exchange']['p50_ms']:.2f}",
            f"{r['code_exchange']['p99_ms']:.2f}",
        ),
        (
            "the same round for a client with EdDSA ID tokens, c=16",
            f"{r['code_exchange_eddsa']['rps']:,.0f} rounds/s",
            f"{r['code_exchange_eddsa']['p50_ms']:.2f}",
            f"{r['code_exchange_eddsa']['p99_ms']:.2f}",
        ),
        (
            "UserInfo with a delegated access token, c=64",
            f"{r['userinfo']['rps']:,.0f} req/s ({r['userinfo']['rps'] / r['baseline']['rps']:.2f}× baseline)",
            f"{r['userinfo']['p50_ms']:.2f}",
            f"{r['userinfo']['p99_ms']:.2f}",
        ),
        (
            "introspection of a user's token by its client (HTTP Basic), c=64",
            f"{r['introspect']['rps']:,.0f} req/s ({r['introspect']['rps'] / r['baseline']['rps']:.2f}× baseline)",
            f"{r['introspect']['p50_ms']:.2f}",
            f"{r['introspect']['p99_ms']:.2f}",
        ),
    ]
    lines = [
        "| scenario | throughput | p50 ms | p99 ms |",
        "|---|---|---:|---:|",
    ]
    lines += [f"| {a} | {b_} | {c} | {d} |" for a, b_, c, d in rows]
    lines += [
        "",
        "| resource | figure |",
        "|---|---|",
        f"| argon2id hash with Latchkey's hasher, default parameters (m=19456 KiB, t=2, p=1), one at a time "
        f"(mean of the medians right before and right after the login test) | {r['hash_ms']:.1f} ms "
        f"({r['hash_ms_around'][0]:.1f} and {r['hash_ms_around'][1]:.1f}) |",
        f"| the same with every core hashing at once (per hash, per core) | {r['hash_parallel_ms']:.1f} ms "
        f"(machine ceiling {r['login_parallel_ceiling']:.1f} logins/s; Latchkey at {r['login']['rps'] / r['login_parallel_ceiling']:.2f}× it) |",
        f"| start-up, exec to `/readyz` 200 on the seeded database (median of 5) | {r['startup_ms']:.0f} ms |",
        f"| RSS idle after start ({r['users']:,} users) | {r['idle_rss_mib']:.1f} MiB (baseline server: {r['baseline_idle_rss_mib']:.1f} MiB) |",
        f"| peak RSS after the read tests | {r['load_rss_mib']:.1f} MiB |",
        f"| peak RSS at the end of the run | {r['final_rss_mib']:.1f} MiB |",
        f"| seeding {r['users']:,} users straight into the database | {r['seed_s']:.1f} s |",
        f"| the database on disk after seeding | {r.get('disk_mib', 0):,.0f} MiB |",
        f"| `latchkey import` of {r['import_n']:,} users with hashes (JSON Lines, beside the running server) "
        f"| {r['import_s']:.1f} s ({r['import_n'] / r['import_s']:,.0f} users/s) |",
    ]
    m = r["machine"]
    head = (
        f"**{mode}** — {m['date']}, commit `{m['commit']}`, {r['backend']}, {r['users']:,} users, "
        f"{r['seconds']} s per load test.  \n"
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['mem_gib']} GiB, Linux {m['kernel']}; {m['rustc']}; {m['wrk']} "
        "on the same machine, over loopback."
    )
    return head + "\n\n" + "\n".join(lines)


def browser_cookie(identifier, password=None):
    """Signs in at the hosted page as a browser does; returns the session cookie."""
    conn = HTTPConnection(HOST, LK_PORT, timeout=10)
    conn.request("GET", "/login")
    r = conn.getresponse()
    page = r.read().decode()
    csrf_cookie = next(v.split(";")[0] for k, v in r.getheaders() if k.lower() == "set-cookie")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"csrf": csrf, "identifier": identifier, "password": password or PASSWORD})
    conn.request(
        "POST",
        "/login",
        body=form,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": csrf_cookie, "Origin": lk("")},
    )
    r = conn.getresponse()
    r.read()
    if r.status != 303:
        raise SystemExit(f"bench: the hosted sign-in answered {r.status}")
    return next(v.split(";")[0] for k, v in r.getheaders() if k.lower() == "set-cookie" and "session" in v)


def oidc_scenarios(admin_token, user, secs):
    """code_exchange (authorize + token, a round per two requests), userinfo, introspection."""
    out = {}
    redirect = "https://rp.example/cb"
    st, raw = http("POST", lk("/v1/clients"), {"name": "bench rp", "redirect_uris": [redirect], "first_party": True}, token=admin_token)
    rp = must(200 if st == 201 else st, raw, "register a relying party")
    basic = "Basic " + base64.b64encode(f"{rp['client_id']}:{rp['client_secret']}".encode()).decode()
    verifier = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    query = urllib.parse.urlencode(
        {"response_type": "code", "client_id": rp["client_id"], "redirect_uri": redirect, "scope": "openid profile email",
         "state": "s", "nonce": "n", "code_challenge": challenge, "code_challenge_method": "S256"}
    )
    env = {
        "BENCH_COOKIE": browser_cookie(user),
        "BENCH_AUTHORIZE": f"/oauth/authorize?{query}",
        "BENCH_BASIC": basic,
        "BENCH_REDIRECT": urllib.parse.quote(redirect, safe=""),
        "BENCH_VERIFIER": verifier,
    }
    exchange_once(env, redirect, basic, verifier)  # warm: the ID-token keys exist, the caches are filled
    run = wrk(lk("/oauth/authorize"), "code_exchange.lua", 16, 2, secs, env=env)
    # Two requests a round; the round's latency is about twice a request's.
    out["code_exchange"] = dict(run, rps=run["rps"] / 2)
    log(f"code exchange {out['code_exchange']['rps']:.0f} rounds/s (request p99 {run['p99_ms']:.2f} ms)")
    # The same with a client whose ID tokens are EdDSA: what the RSA signature costs.
    st, raw = http("POST", lk("/v1/clients"), {"name": "bench rp eddsa", "redirect_uris": [redirect], "first_party": True,
                                               "id_token_signed_response_alg": "EdDSA"}, token=admin_token)
    ed = must(200 if st == 201 else st, raw, "register an EdDSA relying party")
    ed_basic = "Basic " + base64.b64encode(f"{ed['client_id']}:{ed['client_secret']}".encode()).decode()
    ed_env = dict(env, BENCH_AUTHORIZE=env["BENCH_AUTHORIZE"].replace(rp["client_id"], ed["client_id"]), BENCH_BASIC=ed_basic)
    exchange_once(ed_env, redirect, ed_basic, verifier)
    run = wrk(lk("/oauth/authorize"), "code_exchange.lua", 16, 2, secs, env=ed_env)
    out["code_exchange_eddsa"] = dict(run, rps=run["rps"] / 2)
    log(f"code exchange, EdDSA ID tokens: {out['code_exchange_eddsa']['rps']:.0f} rounds/s")
    access = exchange_once(env, redirect, basic, verifier)["access_token"]
    out["userinfo"] = wrk(lk("/oauth/userinfo"), "get.lua", 64, 2, secs, env={"BENCH_TOKEN": access})
    out["introspect"] = wrk(lk("/oauth/introspect"), "introspect.lua", 64, 2, secs, env={"BENCH_BASIC": basic, "BENCH_TOKEN": access})
    log(f"userinfo {out['userinfo']['rps']:.0f}/s, introspection {out['introspect']['rps']:.0f}/s")
    return out


def exchange_once(env, redirect, basic, verifier):
    """One authorize + token round by hand; returns the token response."""
    conn = HTTPConnection(HOST, LK_PORT, timeout=10)
    conn.request("GET", env["BENCH_AUTHORIZE"], headers={"Cookie": env["BENCH_COOKIE"]})
    r = conn.getresponse()
    r.read()
    code = urllib.parse.parse_qs(urllib.parse.urlparse(r.getheader("Location")).query)["code"][0]
    form = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect, "code_verifier": verifier})
    conn.request("POST", "/oauth/token", body=form, headers={"Content-Type": "application/x-www-form-urlencoded", "Authorization": basic})
    r = conn.getresponse()
    tokens = json.loads(r.read())
    if r.status != 200:
        raise SystemExit(f"bench: the code exchange answered {r.status}: {tokens}")
    return tokens


def final_line(r):
    return (
        "bench: "
        f"read_ratio={r['read']['rps'] / r['baseline']['rps']:.2f} "
        f"read_rps={r['read']['rps']:.0f} "
        f"read_p99_ms={r['read']['p99_ms']:.2f} "
        f"login_ceiling_ratio={r['login']['rps'] / r['login_ceiling']:.2f} "
        f"refresh_rps={r['refresh']['rps']:.0f} "
        f"client_credentials_rps={r['client_credentials']['rps']:.0f} "
        f"code_exchange_rps={r['code_exchange']['rps']:.0f} "
        f"code_exchange_eddsa_rps={r['code_exchange_eddsa']['rps']:.0f} "
        f"introspect_ratio={r['introspect']['rps'] / r['baseline']['rps']:.2f} "
        f"userinfo_ratio={r['userinfo']['rps'] / r['baseline']['rps']:.2f} "
        f"storm_read_p99_ms={r['storm_read']['p99_ms']:.2f} "
        f"list_p99_ms={r['list']['p99_ms']:.2f} "
        f"deep_page_p99_ms={r['deep']['p99_ms']:.2f} "
        f"numbered_page_p99_ms={r['deep_offset']['p99_ms']:.2f} "
        f"search_p99_ms={r['search']['p99_ms']:.2f} "
        f"console_users_p99_ms={r['console_users']['p99_ms']:.2f} "
        f"idle_rss_mib={r['idle_rss_mib']:.1f} "
        f"load_rss_mib={r['load_rss_mib']:.1f} "
        f"startup_ms={r['startup_ms']:.0f} "
        f"import_100k_s={r['import_s']:.1f}"
    )


def write_doc(mode, text):
    begin, end = f"<!-- bench:{mode}:begin -->", f"<!-- bench:{mode}:end -->"
    block = f"{begin}\n{text}\n{end}"
    doc = open(DOC).read() if os.path.exists(DOC) else "# Performance\n\n## Results\n"
    if begin in doc and end in doc:
        doc = doc[: doc.index(begin)] + block + doc[doc.index(end) + len(end):]
    else:
        doc = doc.rstrip("\n") + f"\n\n{block}\n"
    with open(DOC, "w") as f:
        f.write(doc)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="100k users, 5 s load tests (under 5 minutes)")
    ap.add_argument("--pg", action="store_true", help="run on PostgreSQL (BENCH_PG_ADMIN_URL) instead of SQLite")
    ap.add_argument("--users", type=int, help="override the number of seeded users")
    ap.add_argument("--seconds", type=int, help="override the duration of each load test")
    ap.add_argument("--no-write", action="store_true", help="do not update docs/performance.md")
    ap.add_argument("--reuse", type=float, metavar="SEED_S", help="PostgreSQL: measure the database an earlier run seeded (in SEED_S seconds) and left untouched")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (database, server log)")
    args = ap.parse_args()
    t = time.perf_counter()
    mode, r = run(args)
    text = table(mode, r)
    line = final_line(r)
    print(text)
    print()
    if not args.no_write:
        write_doc(mode, text + "\n\n```\n" + line + "\n```")
        log(f"wrote {os.path.relpath(DOC, ROOT)} ({mode})")
    log(f"total {time.perf_counter() - t:.0f} s")
    print(line)


if __name__ == "__main__":
    main()
