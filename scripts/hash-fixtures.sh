#!/usr/bin/env bash
# Regenerates crates/latchkey-core/fixtures/hashes.json and keycloak-realm.json: password
# hashes made by the original ecosystems' own libraries (bcrypt, Werkzeug, passlib, Django's
# hashers, argon2-cffi; versions pinned in scripts/hash-fixtures.requirements.txt), never by
# Latchkey's code. The fixtures are committed; the tests only read them.
#   scripts/hash-fixtures.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/hash-fixtures-venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/hash-fixtures.requirements.txt
"$venv/bin/python" scripts/hash-fixtures.py crates/latchkey-core/fixtures
