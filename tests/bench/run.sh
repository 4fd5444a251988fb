#!/usr/bin/env bash
# Signature benchmark on a fresh SoftHSM token: provider vs raw PKCS#11.
#   tests/bench/run.sh [SECONDS_PER_RUN (0.5)] [ROUNDS (10)] [KEY (RSA-2048 or P-256) [THREADS...]]
# Needs a build in build/ (tests/run.sh makes one). Prints two Markdown tables: rates and ratios.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${HSMPROV_BUILD_DIR:-$root/build}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$work" > "$work/softhsm2.conf"
export SOFTHSM2_CONF=$work/softhsm2.conf OPENSSL_MODULES=$build/provider
pin=$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
printf '%s\n' "$pin" > "$work/pin" && chmod 600 "$work/pin"
OPENSSL_CONF=/dev/null softhsm2-util --init-token --free --label bench --so-pin "$pin" --pin "$pin" >/dev/null
sed -e "s|file:/etc/hsmprov/token.pin|file:$work/pin|" "$root/openssl.cnf.example" > "$work/openssl.cnf"
export OPENSSL_CONF=$work/openssl.cnf
openssl genpkey -propquery provider=hsmprov -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
  -pkeyopt pkcs11_uri:'pkcs11:token=bench;object=bench-rsa' -out /dev/null
openssl genpkey -propquery provider=hsmprov -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
  -pkeyopt pkcs11_uri:'pkcs11:token=bench;object=bench-ec' -out /dev/null
${HSMPROV_BENCH_WRAPPER:-} "$build/tests/hsmprov_sign_bench" /usr/lib/softhsm/libsofthsm2.so bench "$work/pin" "${1:-0.5}" "${2:-10}" "${@:3}"
