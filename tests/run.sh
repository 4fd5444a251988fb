#!/usr/bin/env bash
# The one test command: installs what it needs (Debian packages), builds,
# and runs every test (CMocka unit tests and pytest integration tests)
# through ctest.
#   tests/run.sh              this system: g++ build (build/) and every test
#   tests/run.sh --sanitize   the same under ASan+UBSan (build-sanitize/)
#   tests/run.sh --clang      the same built with clang (build-clang/)
#   tests/run.sh --all        g++ and ASan+UBSan, one after the other
#   tests/run.sh --tsan       the thread and fork tests only (test_sessions.py, the network tests of one
#                             program, the session pool's unit test) under ThreadSanitizer (build-tsan/);
#                             any race report fails
#   tests/run.sh --package    the g++ run, then the Debian package built, installed into this system
#                             and tried (tests/package_test.sh)
#   tests/run.sh --debian13   --package in a Debian 13 chroot (made with debootstrap on first use,
#                             then reused; see scripts/debian13.sh), with SoftHSM's main branch built
#                             there for the ML-DSA tests when its source is beside the checkout
#   tests/run.sh --fuzz [S]   every fuzz target for S seconds (60) (scripts/fuzz.sh, build-fuzz/)
#   tests/run.sh --ci         both distributions: --all, --tsan, --clang and a 60 s --fuzz here, then --debian13
#                             (what CI runs)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

source "$root/scripts/install-deps.sh"
source "$root/scripts/build-options.sh"

builds=${HSMPROV_BUILD_ROOT:-$root}  # where the build directories go

build_and_test() {  # $1: build dir, then cmake options
  local dir="$builds/$1" status=0
  shift
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null || return 1
  cmake --build "$dir" -j"$(nproc)" || return 1
  ASAN_OPTIONS=detect_leaks=1 ctest --test-dir "$dir" --output-on-failure || status=1
  skipped "$dir"
  totals "$dir"
  return $status
}

# The counts of every suite, the last lines on screen: ctest's entries, the
# CMocka tests inside them, and pytest's (one ctest entry, counted apart).
totals() {
  local log="$1/Testing/Temporary/LastTest.log" entries failed cmocka cmocka_failed pytest
  [ -f "$log" ] || return 0
  entries=$(grep -cE '^Test (Passed|Failed)' "$log" || true)
  failed=$(grep -c '^Test Failed' "$log" || true)
  cmocka=$(awk '/^\[  PASSED  \] [0-9]+ test/ {n += $4} END {print n + 0}' "$log")
  cmocka_failed=$(awk '/^\[  FAILED  \] [0-9]+ test/ {n += $4} END {print n + 0}' "$log")
  pytest=$(grep -E '^(=+ )?[0-9]+ (passed|failed|skipped|error)' "$log" | tail -n 1 | sed -E 's/^=+ //; s/ =+$//')
  echo "totals in $1:"
  echo "  ctest: $((entries - failed)) of $entries entries passed"
  echo "  CMocka: $cmocka passed, $cmocka_failed failed"
  echo "  pytest: ${pytest:-no summary (it did not finish)}"
}

# ctest prints a test's output only when it fails: the reasons of skipped
# integration tests (pytest -rs) are shown here, so a green run says what it left out.
skipped() {
  local reasons
  reasons=$(grep -E '^SKIPPED \[' "$1/Testing/Temporary/LastTest.log" 2>/dev/null || true)
  if [ -n "$reasons" ]; then
    echo "skipped in $1:"
    printf '%s\n' "$reasons"
  fi
  return 0
}

gcc_build() { build_and_test build "${hsmprov_gcc_build_options[@]}"; }
sanitize_build() { build_and_test build-sanitize -DHSMPROV_SANITIZE=ON -DCMAKE_CXX_COMPILER=g++ -DCMAKE_C_COMPILER=gcc; }
# Only what the thread and fork tests use is built, and only they run.
tsan_build() {
  local dir="$builds/build-tsan"
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHSMPROV_TSAN=ON -DCMAKE_CXX_COMPILER=g++ \
    -DCMAKE_C_COMPILER=gcc >/dev/null || return 1
  cmake --build "$dir" -j"$(nproc)" --target hsmprov hsmprov_sign_threads hsmprov_sign_on_demand hsmprov_copy_and_search \
    hsmprov_test_shim \
    test_session_pool || return 1
  # A race report ends the program with exit code 66 (also in a forked child): its test fails.
  TSAN_OPTIONS=halt_on_error=1:exitcode=66:second_deadlock_stack=1 \
    ctest --test-dir "$dir" --output-on-failure -R '^(unit\.test_session_pool|integration)$'
}
clang_build() {
  hsmprov_install_deps tests clang || return 1
  build_and_test build-clang -DHSMPROV_SANITIZE=OFF -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang
}
# In the chroot: the suite, then the package (scripts/make-deb.sh), installed
# and tried by tests/package_test.sh.
debian13() { hsmprov_debian13_run tests/run.sh --inside-debian13; }
# There, first the post-quantum test token, when SoftHSM's source is at hand
# (scripts/softhsm-pqc.sh; kept between runs): the ML-DSA tests use it.
inside_debian13() {
  local archive
  archive=$(ls "${HSMPROV_VENDOR_DIR:-/nonexistent}"/softhsm2-*.tar.gz 2>/dev/null | head -n 1 || true)
  if [ -n "$archive" ]; then
    "$root/scripts/softhsm-pqc.sh" "$archive" /opt/hsmprov-softhsm-pqc || return 1
    export HSMPROV_MLDSA_SOFTHSM=/opt/hsmprov-softhsm-pqc
  else
    echo "no SoftHSM source beside the checkout (shared/vendor, or \$HSMPROV_VENDOR): the ML-DSA tests skip" >&2
  fi
  gcc_build
  "$root/tests/package_test.sh"
}

# Each mode is a plain list of steps: set -e stops at the first that fails
# (an `a && b` chain would not stop the script when a fails).
mode=${1:-}
case "$mode" in
  --debian13|--ci) source "$root/scripts/debian13.sh" ;;
esac
[ "$mode" = --debian13 ] || hsmprov_install_deps tests
case "$mode" in
  "") gcc_build ;;
  --sanitize) sanitize_build ;;
  --clang) clang_build ;;
  --all) gcc_build; sanitize_build ;;
  --tsan) tsan_build ;;
  --package) gcc_build; "$root/tests/package_test.sh" ;;
  --debian13) debian13 ;;
  --inside-debian13) inside_debian13 ;;
  --fuzz) "$root/scripts/fuzz.sh" "${2:-60}" ;;
  --ci) gcc_build; sanitize_build; tsan_build; clang_build; "$root/scripts/fuzz.sh" 60; debian13 ;;
  *) echo "usage: tests/run.sh [--sanitize|--tsan|--clang|--all|--package|--debian13|--fuzz [SECONDS]|--ci]" >&2; exit 2 ;;
esac
