#!/usr/bin/env bash
# Makes sure the local services the tests and the benchmark use are running, installing them
# from Debian's packages if the machine has none.
#
#   scripts/services.sh            # PostgreSQL and Redis
#   scripts/services.sh postgres   # PostgreSQL only
#   scripts/services.sh pgbouncer  # PostgreSQL and a transaction-mode pgbouncer on :6432
#
# LATCHKEY_TEST_PG_URL / LATCHKEY_TEST_REDIS_URL set: that service is elsewhere; left alone.
set -euo pipefail

ensure_postgres() {
    if [ -n "${LATCHKEY_TEST_PG_URL:-}" ]; then
        return 0
    fi
    if command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432; then
        return 0
    fi
    if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "services.sh: installing PostgreSQL from Debian's packages" >&2
            apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
            ver=$(ls /etc/postgresql | sort -V | tail -n 1)
            sed -i 's/^\(host.*127.0.0.1\/32\s*\).*/\1trust/; s/^\(local\s*all\s*all\s*\).*/\1trust/' "/etc/postgresql/$ver/main/pg_hba.conf"
        else
            echo "services.sh: no PostgreSQL here and cannot install one" >&2
            return 0
        fi
    fi
    ver=$(ls /etc/postgresql | sort -V | tail -n 1)
    echo "services.sh: starting PostgreSQL $ver" >&2
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
    for _ in $(seq 1 30); do
        pg_isready -q -h 127.0.0.1 -p 5432 && return 0
        sleep 1
    done
    echo "services.sh: PostgreSQL did not become ready" >&2
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
            echo "services.sh: installing Redis from Debian's packages" >&2
            apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
        else
            echo "services.sh: no Redis here and cannot install one" >&2
            return 0
        fi
    fi
    echo "services.sh: starting Redis" >&2
    mkdir -p /tmp/latchkey-redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
        --dir /tmp/latchkey-redis --logfile /tmp/latchkey-redis/redis.log || true
    for _ in $(seq 1 20); do
        redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    echo "services.sh: Redis did not become ready" >&2
}

# A pgbouncer (Debian's package, 1.18 on bookworm) in transaction pooling mode on
# 127.0.0.1:6432 in front of the local PostgreSQL, for the suite's run through a pooler and the
# multi-instance script. Every database name is passed through (`*`), users are trusted as
# PostgreSQL trusts them here. Its files live in /tmp/latchkey-pgbouncer.
PGBOUNCER_DIR=/tmp/latchkey-pgbouncer
ensure_pgbouncer() {
    if command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 6432; then
        return 0
    fi
    if ! command -v pgbouncer >/dev/null 2>&1 && [ ! -x /usr/sbin/pgbouncer ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "services.sh: installing pgbouncer from Debian's packages" >&2
            apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null
        else
            echo "services.sh: no pgbouncer here and cannot install one" >&2
            return 1
        fi
    fi
    mkdir -p "$PGBOUNCER_DIR"
    cat > "$PGBOUNCER_DIR/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=5432

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = 6432
unix_socket_dir =
auth_type = trust
auth_file = $PGBOUNCER_DIR/userlist.txt
pool_mode = transaction
max_client_conn = 4000
default_pool_size = 8
; After PostgreSQL restarts, try to log in to it again within a second (default: 15 s of
; refusing every client).
server_login_retry = 1
; sqlx sends extra_float_digits at start-up; PostgreSQL's default is what Latchkey needs.
ignore_startup_parameters = extra_float_digits
logfile = $PGBOUNCER_DIR/pgbouncer.log
pidfile = $PGBOUNCER_DIR/pgbouncer.pid
INI
    printf '"postgres" ""\n"root" ""\n' > "$PGBOUNCER_DIR/userlist.txt"
    local pgb
    pgb=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
    echo "services.sh: starting pgbouncer (transaction pooling) on 127.0.0.1:6432" >&2
    if [ "$(id -u)" = 0 ]; then
        # pgbouncer refuses to run as root.
        chown -R postgres "$PGBOUNCER_DIR"
        "$pgb" -d -u postgres "$PGBOUNCER_DIR/pgbouncer.ini"
    else
        "$pgb" -d "$PGBOUNCER_DIR/pgbouncer.ini"
    fi
    for _ in $(seq 1 20); do
        pg_isready -q -h 127.0.0.1 -p 6432 && return 0
        sleep 0.5
    done
    echo "services.sh: pgbouncer did not become ready (log: $PGBOUNCER_DIR/pgbouncer.log)" >&2
    return 1
}

case "${1:-all}" in
    postgres) ensure_postgres ;;
    redis) ensure_redis ;;
    pgbouncer) ensure_postgres; ensure_pgbouncer ;;
    all) ensure_postgres; ensure_redis ;;
    *) echo "usage: scripts/services.sh [postgres|redis|pgbouncer|all]" >&2; exit 2 ;;
esac
