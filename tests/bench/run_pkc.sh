#!/usr/bin/env bash
# Attestation verification benchmark: hsmprov-pkc verify over many files in
# one call against a bare OpenSSL parse-and-check loop, for each kind of
# evidence (the real samples: Luna PKCs, a YubiKey attestation with its f9
# certificate, a Google Cloud HSM Marvell attestation with its chains).
#   tests/bench/run_pkc.sh [COPIES_OF_EACH_FILE] [ROUNDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${HSMPROV_BUILD_DIR:-$root/build}
bench=$build/tests/hsmprov_pkc_bench
cli=$build/src/hsmprov-pkc
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
yubikey=$root/tests/data/attestation/yubikey-piv
marvell=$root/tests/data/attestation/marvell
mkdir "$work/luna" "$work/yubikey" "$work/marvell"
cat "$yubikey/attestation-9a.crt" "$yubikey/attestation-intermediate.crt" > "$work/9a-with-f9.pem"
for i in $(seq "${1:-200}"); do
  cp "$root/tests/data/luna-pkc/rsa-pkc.p7b" "$work/luna/rsa-$i.p7b"
  cp "$root/tests/data/luna-pkc/ecc-pkc.p7b" "$work/luna/ecc-$i.p7b"
  for copy in a b; do  # as many files per call as the two Luna samples give
    cp "$work/9a-with-f9.pem" "$work/yubikey/9a-$i$copy.pem"
    cp "$marvell/attestation.dat.gz" "$work/marvell/attestation-$i$copy.dat.gz"
  done
done
echo "| evidence | files per call | hsmprov-pkc verify per s | bare parse + signatures per s | ratio |"
echo "|---|---|---|---|---|"
printf '| Luna PKC '; "$bench" "$cli" "$root/data/luna-roots.pem" "${2:-10}" "$work"/luna/*
printf '| YubiKey PIV '; "$bench" "$cli" "$root/data/yubico-piv-roots.pem" "${2:-10}" "$work"/yubikey/*
printf '| Marvell '; "$bench" "$cli" "$root/data/marvell-roots.pem" "${2:-10}" --chain "$marvell/chain.pem" "$work"/marvell/*
