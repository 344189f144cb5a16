#!/usr/bin/env bash
# Runs every test: unit tests of each crate, the black-box suite on SQLite and PostgreSQL
# (and its PostgreSQL half again through a transaction-mode pgbouncer),
# and the interoperability suites against the built server (interop/: openid-client, a
# certified OpenID relying-party library, and Debian's Chromium driven by playwright-core;
# Node packages by `npm ci` from the committed lock file).
# Makes sure a local PostgreSQL and Redis are running first (scripts/services.sh installs
# them from Debian's packages if the machine has none). LATCHKEY_TEST_PG_URL / LATCHKEY_TEST_REDIS_URL point
# elsewhere. Under CI=true those tests fail, rather than skip, when a server cannot be reached;
# otherwise a skipped test is listed, with the reason, at the end of the run.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/services.sh all
# The pooler the suite's pooled pass and its pooler test use; its absence fails those under CI.
scripts/services.sh pgbouncer || true
skips=target/tmp/latchkey-test-skips.txt
mkdir -p target/tmp
rm -f "$skips"
status=0
cargo test --workspace --locked "$@" || status=$?

# The PostgreSQL half of the black-box suite once more, every instance through a
# transaction-mode pgbouncer (`--db-statement-cache 0`, LISTEN and migrations direct), as a
# deployment behind a pooler runs.
if [ "$status" -eq 0 ] && [ "$#" -eq 0 ] && [ -z "${LATCHKEY_TEST_PG_URL:-}" ]; then
    if pg_isready -q -h 127.0.0.1 -p 6432; then
        LATCHKEY_TEST_PG_POOLER_URL=postgres://postgres@127.0.0.1:6432/postgres \
            cargo test --locked -p latchkey --test api postgres || status=$?
    elif [ "${CI:-}" = "true" ]; then
        echo "test.sh: pgbouncer is required under CI=true for the suite behind a pooler" >&2
        status=1
    else
        printf 'PostgreSQL suite through pgbouncer\tpgbouncer not installed and not installable here\n' >> "$skips"
    fi
fi

# The interoperability suites need the binary the black-box tests built: openid-client
# against the OAuth endpoints, and Chromium (Debian's, via scripts/browser.sh) for what only a
# browser shows.
if [ "$status" -eq 0 ] && [ "$#" -eq 0 ]; then
    if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
        suites=(interop/oauth.test.mjs interop/oidc.test.mjs)
        if scripts/browser.sh; then
            suites+=(interop/cors.test.mjs interop/pages.test.mjs interop/mfa.test.mjs interop/passkeys.test.mjs interop/mail.test.mjs interop/console.test.mjs)
        elif [ "${CI:-}" = "true" ]; then
            echo "test.sh: Chromium is required under CI=true for the browser tests" >&2
            status=1
        else
            printf 'interop/cors.test.mjs interop/pages.test.mjs interop/mfa.test.mjs interop/passkeys.test.mjs interop/mail.test.mjs interop/console.test.mjs\tChromium not installed and not installable here\n' >> "$skips"
        fi
        if [ "$status" -eq 0 ]; then
            (cd interop && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || status=$?
        fi
        if [ "$status" -eq 0 ]; then
            LATCHKEY_BIN="$PWD/target/debug/latchkey" node --test "${suites[@]}" || status=$?
        fi
    elif [ "${CI:-}" = "true" ]; then
        echo "test.sh: Node.js and npm are required under CI=true for the interoperability suites" >&2
        status=1
    else
        printf 'interop/\tNode.js or npm not installed\n' >> "$skips"
    fi
fi

# Three instances behind pgbouncer through a kill -9 and a PostgreSQL restart (docs/deploy.md).
# Last: it restarts the local PostgreSQL, so nothing may run beside it.
if [ "$status" -eq 0 ] && [ "$#" -eq 0 ] && [ -z "${LATCHKEY_TEST_PG_URL:-}" ]; then
    if pg_isready -q -h 127.0.0.1 -p 6432 && [ -d /etc/postgresql ]; then
        LATCHKEY_BIN="$PWD/target/debug/latchkey" python3 scripts/cluster-faults.py || status=$?
    elif [ "${CI:-}" = "true" ]; then
        echo "test.sh: the multi-instance fault script needs the local PostgreSQL and pgbouncer under CI=true" >&2
        status=1
    else
        printf 'scripts/cluster-faults.py\tno local PostgreSQL cluster or pgbouncer to restart\n' >> "$skips"
    fi
fi

if [ -s "$skips" ]; then
    n=$(wc -l < "$skips")
    echo
    echo "latchkey: $n tests skipped (they passed without running):"
    sort "$skips" | awk -F'\t' '{ printf "  %s — %s\n", $1, $2 }'
fi
exit "$status"
