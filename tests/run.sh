#!/usr/bin/env bash
# The one test command: installs what it needs (Debian 12 packages), builds,
# and runs every test (CMocka unit tests and pytest integration tests) through
# ctest.
#   tests/run.sh              normal build (build/)
#   tests/run.sh --sanitize   ASan+UBSan build (build-sanitize/)
#   tests/run.sh --all        both, one after the other (what CI runs)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

source "$root/scripts/install-deps.sh"

builds=${HSMPROV_BUILD_ROOT:-$root}  # where the build directories go

build_and_test() {  # $1: build dir, $2: ON/OFF sanitizers
  local dir="$builds/$1"
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHSMPROV_SANITIZE="$2" >/dev/null
  cmake --build "$dir" -j"$(nproc)"
  ASAN_OPTIONS=detect_leaks=1 ctest --test-dir "$dir" --output-on-failure
}

mode=${1:-}
hsmprov_install_deps tests
case "$mode" in
  "") build_and_test build OFF ;;
  --sanitize) build_and_test build-sanitize ON ;;
  --all) build_and_test build OFF && build_and_test build-sanitize ON ;;
  *) echo "usage: tests/run.sh [--sanitize|--all]" >&2; exit 2 ;;
esac
