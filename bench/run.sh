#!/usr/bin/env bash
# Latchkey's benchmark: one command from a clean clone.
#
#   bench/run.sh            # 1,000,000 users, 10 s per load test, SQLite
#   bench/run.sh --quick    # 100,000 users, 5 s per load test (under 5 minutes on 2 cores)
#   bench/run.sh --pg       # the same on PostgreSQL (BENCH_PG_ADMIN_URL, default
#                           # postgres://postgres@127.0.0.1:5432/postgres; a database
#                           # latchkey_bench is dropped and created)
#   bench/run.sh --pg --users 10000000 --reuse 2231   # measure the database an earlier
#                           # run seeded (in 2231 s) and stopped before writing to
#
# Installs wrk (Debian package) if missing, builds the release binaries, then runs
# bench/run.py, which writes its table into docs/performance.md and prints the
# `bench: ...` line last. Criterion micro-benchmarks: `cargo bench --bench core`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null; then
    echo "[bench] installing wrk" >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get install -y wrk >/dev/null 2>&1 \
        || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y wrk >/dev/null; }
fi
for arg in "$@"; do
    if [ "$arg" = "--pg" ]; then
        command -v psql >/dev/null || { echo "bench: --pg needs psql" >&2; exit 1; }
        scripts/services.sh postgres
    fi
done

echo "[bench] building release binaries" >&2
cargo build --release --locked --bin latchkey --example bench_baseline --example bench_seed 2>&1 \
    | grep -Ev '^\s+(Compiling|Checking|Downloaded|Downloading)' >&2 || true
test -x target/release/latchkey -a -x target/release/examples/bench_seed \
    || { echo "bench: the release build failed" >&2; exit 1; }
exec python3 bench/run.py "$@"
