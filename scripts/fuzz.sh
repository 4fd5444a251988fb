#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang with ASan+UBSan, in
# build-fuzz/) and runs each for a given time, starting from its seed corpus
# (fuzz/corpus/, past findings in tests/data/fuzz/, and the real PKC and
# YubiKey attestation files of tests/data for the PKC target).
# New inputs found go to build-fuzz/corpus/TARGET (kept between runs), and
# any crash, leak or UB report to build-fuzz/artifacts/ and a non-zero exit.
#   scripts/fuzz.sh [SECONDS_PER_TARGET (60)] [TARGET...]
#   targets: pkc marvell uri key_reference wrap config (default: all)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/install-deps.sh"
hsmprov_install_deps tests clang libclang-rt-14-dev

seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(pkc marvell uri key_reference wrap config)
build=${HSMPROV_BUILD_ROOT:-$root}/build-fuzz

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DHSMPROV_FUZZ=ON -DHSMPROV_TESTS=OFF >/dev/null
cmake --build "$build" --target fuzz -j"$(nproc)" >/dev/null

mkdir -p "$build/artifacts"
for target in "${targets[@]}"; do
  corpus=$build/corpus/$target
  mkdir -p "$corpus"
  seeds=("$root/tests/data/fuzz")  # past findings
  if [ "$target" = pkc ]; then seeds+=("$root/tests/data/luna-pkc" "$root/tests/data/attestation/yubikey-piv"); else seeds+=("$root/fuzz/corpus/$target"); fi
  log=$build/fuzz_$target.log
  # -max_total_time bounds the run; libFuzzer exits non-zero on the first finding.
  if ! "$build/fuzz/fuzz_$target" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
      -rss_limit_mb=2048 -artifact_prefix="$build/artifacts/$target-" "$corpus" "${seeds[@]}" > "$log" 2>&1; then
    tail -40 "$log" >&2
    echo "fuzz: $target found a problem; see $build/artifacts/ and $log" >&2
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  echo "fuzz: $target: $runs executions in ${seconds} s, no finding"
done
