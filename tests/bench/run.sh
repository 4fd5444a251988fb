#!/usr/bin/env bash
# Signature benchmark on a fresh SoftHSM token: provider vs raw PKCS#11.
#   tests/bench/run.sh [SECONDS_PER_RUN (0.5)] [ROUNDS (10)] [KEY (RSA-2048, P-256 or ML-DSA-65) [THREADS...]]
# Needs a build in build/ (tests/run.sh makes one). Prints two Markdown tables: rates and ratios.
# ML-DSA-65 needs OpenSSL 3.5 and a SoftHSM built with ML-DSA: HSMPROV_BENCH_SOFTHSM names its
# prefix (its lib/softhsm/libsofthsm2.so and bin/softhsm2-util; default: the packaged SoftHSM).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${HSMPROV_BUILD_DIR:-$root/build}
module=/usr/lib/softhsm/libsofthsm2.so util=softhsm2-util
if [ -n "${HSMPROV_BENCH_SOFTHSM:-}" ]; then
  module=$HSMPROV_BENCH_SOFTHSM/lib/softhsm/libsofthsm2.so util=$HSMPROV_BENCH_SOFTHSM/bin/softhsm2-util
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$work" > "$work/softhsm2.conf"
export SOFTHSM2_CONF=$work/softhsm2.conf OPENSSL_MODULES=$build/provider
pin=$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
printf '%s\n' "$pin" > "$work/pin" && chmod 600 "$work/pin"
OPENSSL_CONF=/dev/null "$util" --init-token --free --label bench --so-pin "$pin" --pin "$pin" >/dev/null
sed -e "s|file:/etc/hsmprov/token.pin|file:$work/pin|" -e "s|/usr/lib/softhsm/libsofthsm2.so|$module|" \
  "$root/openssl.cnf.example" > "$work/openssl.cnf"
export OPENSSL_CONF=$work/openssl.cnf
generate() {  # LABEL ALGORITHM [OPTION]
  openssl genpkey -propquery provider=hsmprov -algorithm "$2" ${3:+-pkeyopt "$3"} \
    -pkeyopt pkcs11_uri:"pkcs11:token=bench;object=$1" -out /dev/null
}
if [ "${3:-}" = ML-DSA-65 ]; then
  generate bench-mldsa ML-DSA-65
else
  generate bench-rsa RSA rsa_keygen_bits:2048
  generate bench-ec EC ec_paramgen_curve:P-256
fi
${HSMPROV_BENCH_WRAPPER:-} "$build/tests/hsmprov_sign_bench" "$module" bench "$work/pin" "${1:-0.5}" "${2:-10}" "${@:3}"
