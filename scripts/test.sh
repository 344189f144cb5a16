#!/usr/bin/env bash
# Runs every test: unit tests and the black-box suite on SQLite and PostgreSQL.
# Makes sure a local PostgreSQL and Redis are running first (scripts/services.sh installs
# them from Debian's packages if the machine has none). LATCHKEY_TEST_PG_URL / LATCHKEY_TEST_REDIS_URL point
# elsewhere. Under CI=true those tests fail, rather than skip, when a server cannot be reached.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/services.sh all
exec cargo test --locked "$@"
