#!/usr/bin/env bash
# Runs every test: unit tests and the black-box suite on SQLite and PostgreSQL.
# Makes sure a local PostgreSQL and Redis are running first (installing them from Debian's
# packages if the machine has none). LATCHKEY_TEST_PG_URL / LATCHKEY_TEST_REDIS_URL point
# elsewhere. Under CI=true those tests fail, rather than skip, when a server cannot be reached.
set -euo pipefail
cd "$(dirname "$0")/.."

ensure_postgres() {
    if [ -n "${LATCHKEY_TEST_PG_URL:-}" ]; then
        return 0
    fi
    if command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432; then
        return 0
    fi
    if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "test.sh: installing PostgreSQL from Debian's packages" >&2
            apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
            ver=$(ls /etc/postgresql | sort -V | tail -n 1)
            sed -i 's/^\(host.*127.0.0.1\/32\s*\).*/\1trust/; s/^\(local\s*all\s*all\s*\).*/\1trust/' "/etc/postgresql/$ver/main/pg_hba.conf"
        else
            echo "test.sh: no PostgreSQL here and cannot install one" >&2
            return 0
        fi
    fi
    ver=$(ls /etc/postgresql | sort -V | tail -n 1)
    echo "test.sh: starting PostgreSQL $ver" >&2
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
    for _ in $(seq 1 30); do
        pg_isready -q -h 127.0.0.1 -p 5432 && return 0
        sleep 1
    done
    echo "test.sh: PostgreSQL did not become ready" >&2
}

ensure_redis() {
    if [ -n "${LATCHKEY_TEST_REDIS_URL:-}" ]; then
        return 0
    fi
    if command -v redis-cli >/dev/null 2>&1 && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
        return 0
    fi
    if ! command -v redis-server >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "test.sh: installing Redis from Debian's packages" >&2
            apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
        else
            echo "test.sh: no Redis here and cannot install one" >&2
            return 0
        fi
    fi
    echo "test.sh: starting Redis" >&2
    mkdir -p /tmp/latchkey-redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
        --dir /tmp/latchkey-redis --logfile /tmp/latchkey-redis/redis.log || true
    for _ in $(seq 1 20); do
        redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    echo "test.sh: Redis did not become ready" >&2
}

ensure_postgres
ensure_redis
exec cargo test --locked "$@"
