#!/usr/bin/env bash
# Three instances on one PostgreSQL behind pgbouncer under mixed traffic, through a kill -9 of
# one instance and a restart of PostgreSQL (docs/deploy.md). Restarts the local PostgreSQL:
# run it alone, not beside other tests. Uses target/debug/latchkey (LATCHKEY_BIN to change).
#
#   cargo build && scripts/cluster-faults.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh pgbouncer
exec python3 scripts/cluster-faults.py "$@"
