#!/usr/bin/env bash
# Property-based checks of the native API against its own OpenAPI document, with schemathesis
# (from PyPI): no 5xx, every response matches its documented schema and content type.
# Bounded: --max-examples per operation (default 10) and a time budget (default 180 s).
# Loopback only: it starts its own server on a fresh SQLite file.
#   scripts/schemathesis.sh [max-examples] [max-seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${1:-10}"
budget="${2:-180}"
version="4.32.5"

if ! command -v st >/dev/null 2>&1 || [ "$(st --version 2>/dev/null | awk '{print $3}')" != "$version" ]; then
    python3 -m pip install --quiet --disable-pip-version-check "schemathesis==$version"
fi
cargo build --locked --quiet --bin latchkey

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
password="st-$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
LATCHKEY_ADMIN_PASSWORD="$password" LATCHKEY_ARGON2_MEMORY_KIB=64 LATCHKEY_ARGON2_ITERATIONS=1 \
LATCHKEY_ADDRESS_FAILURE_LIMIT=0 LATCHKEY_LOGIN_LOCK_AFTER=0 LATCHKEY_RATE_REGISTER_PER_HOUR=0 \
LATCHKEY_RATE_REFRESH_PER_MINUTE=0 LATCHKEY_RATE_PASSWORD_PER_HOUR=0 RUST_LOG=error \
LATCHKEY_MAIL_LOG=true LATCHKEY_RATE_MAIL_PER_HOUR=0 LATCHKEY_MAIL_PER_RECIPIENT_PER_HOUR=0 \
    target/debug/latchkey serve --listen "127.0.0.1:$port" --database "$work/st.db" >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
token=$(curl -fs "http://127.0.0.1:$port/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"identifier\":\"admin\",\"password\":\"$password\"}" | python3 -c 'import sys,json; print(json.load(sys.stdin)["access_token"])')

# Operations that would end the admin's own session are left out, so the rest stay authorized:
# logout, session deletion, and the import (a record for `admin` with on_conflict=update and
# a new hash ends the admin's sessions; its bodies are JSON Lines, which schemathesis cannot
# write either). The import's bad input is tested in tests/api/import.rs.
run() {
    local seed="$1"
    st run "http://127.0.0.1:$port/openapi.json" \
        --checks not_a_server_error,response_schema_conformance,content_type_conformance \
        --max-examples "$examples" --max-time "$budget" --workers 2 \
        --exclude-path-regex 'logout|/sessions|/v1/users/import' \
        --header "Authorization: Bearer $token" \
        --seed "$seed" --no-color
}
# CPython 3.11.7 sometimes raises "SystemError: AST constructor recursion depth mismatch"
# inside hypothesis while it describes a strategy (a bug of the interpreter, not a finding
# about the API). Only that error earns one more run, with another seed (the same seed draws
# the same strategies and meets the bug again); any failed check fails at once.
status=0
run 1 2>&1 | tee "$work/st.log" || status=$?
if [ "$status" -ne 0 ] && grep -q "AST constructor recursion depth mismatch" "$work/st.log" \
    && ! grep -qE "^(❌|FAILED)|[0-9]+ failed" "$work/st.log"; then
    echo "schemathesis.sh: the interpreter's AST bug interrupted the run; running it once more" >&2
    status=0
    run 2 || status=$?
fi
exit "$status"
