#!/usr/bin/env bash
# Runs every test: unit tests of each crate and the black-box suite on SQLite and PostgreSQL.
# Makes sure a local PostgreSQL and Redis are running first (scripts/services.sh installs
# them from Debian's packages if the machine has none). LATCHKEY_TEST_PG_URL / LATCHKEY_TEST_REDIS_URL point
# elsewhere. Under CI=true those tests fail, rather than skip, when a server cannot be reached;
# otherwise a skipped test is listed, with the reason, at the end of the run.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/services.sh all
skips=target/tmp/latchkey-test-skips.txt
mkdir -p target/tmp
rm -f "$skips"
status=0
cargo test --workspace --locked "$@" || status=$?
if [ -s "$skips" ]; then
    n=$(wc -l < "$skips")
    echo
    echo "latchkey: $n tests skipped (they passed without running):"
    sort "$skips" | awk -F'\t' '{ printf "  %s — %s\n", $1, $2 }'
fi
exit "$status"
