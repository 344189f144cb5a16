#!/usr/bin/env bash
# Runs each cargo-fuzz target for a bounded time (default 60 s each):
#   scripts/fuzz.sh            # all targets, 60 s each
#   scripts/fuzz.sh 300 token_parse
# Installs cargo-fuzz if missing. cargo-fuzz needs nightly flags: a nightly toolchain is used
# when installed, otherwise the stable one with RUSTC_BOOTSTRAP=1. A crash leaves its input
# under fuzz/artifacts/<target>/: add it as a regression test (see docs/security.md).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(token_parse assignment_query dialect_requests)

command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    fuzz=(cargo +nightly fuzz)
else
    export RUSTC_BOOTSTRAP=1
    fuzz=(cargo fuzz)
fi
for t in "${targets[@]}"; do
    echo "fuzz: $t for ${seconds}s"
    "${fuzz[@]}" run "$t" -- -max_total_time="$seconds" -rss_limit_mb=4096
done
echo "fuzz: ${#targets[@]} targets ran ${seconds}s each without a crash"
