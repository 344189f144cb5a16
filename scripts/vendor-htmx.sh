#!/usr/bin/env bash
# Refreshes the console's vendored htmx from the npm registry: scripts/vendor-htmx.sh 2.0.11
# npm pack verifies the tarball against the registry's integrity; the new SHA-256 is printed
# for crates/latchkey/src/pages/console/vendor/README.md and HTMX_SHA256 in console/mod.rs.
set -euo pipefail
version="${1:?usage: scripts/vendor-htmx.sh VERSION}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "htmx.org@$version" >/dev/null && tar xzf "htmx.org-$version.tgz")
cp "$work/package/dist/htmx.min.js" "$root/crates/latchkey/src/pages/console/vendor/htmx.min.js"
echo "integrity: $(npm view "htmx.org@$version" dist.integrity)"
echo "sha256:    $(sha256sum "$root/crates/latchkey/src/pages/console/vendor/htmx.min.js" | cut -d' ' -f1)"
