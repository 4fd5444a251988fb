#!/usr/bin/env bash
# PKC verification benchmark: hsmprov-pkc verify over many files in one call
# against a bare OpenSSL parse-and-check loop.
#   tests/bench/run_pkc.sh [COPIES_OF_EACH_FILE] [ROUNDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${HSMPROV_BUILD_DIR:-$root/build}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for i in $(seq "${1:-200}"); do
  cp "$root/tests/data/luna-pkc/rsa-pkc.p7b" "$work/rsa-$i.p7b"
  cp "$root/tests/data/luna-pkc/ecc-pkc.p7b" "$work/ecc-$i.p7b"
done
"$build/tests/hsmprov_pkc_bench" "$build/src/hsmprov-pkc" "$root/data/luna-roots.pem" "${2:-10}" "$work"/*.p7b
