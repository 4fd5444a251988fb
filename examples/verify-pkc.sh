#!/usr/bin/env bash
# A CA's check of a Luna PKC and the CSR it came with, using stock `openssl`
# commands and the hsmprov provider only (no HSM needed):
#   1. the PKC's chain verifies up to the pinned Thales roots (never the root
#      inside the file: the RSA one is not even a valid CA certificate),
#   2. the CSR's own signature verifies,
#   3. the key in the CSR is the key the PKC attests.
#   examples/verify-pkc.sh PKC CSR [ROOTS_PEM]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 2 ] || { echo "usage: $0 PKC CSR [ROOTS_PEM]" >&2; exit 2; }
pkc=$1 csr=$2
roots=${3:-}
if [ -z "$roots" ]; then
  for candidate in /usr/local/share/hsmprov/luna-roots.pem /usr/share/hsmprov/luna-roots.pem \
                   "$root/data/luna-roots.pem"; do
    [ -f "$candidate" ] && { roots=$candidate; break; }
  done
fi
export OPENSSL_MODULES=${OPENSSL_MODULES:-${HSMPROV_BUILD_DIR:-$root/build}/provider}
with_provider=(-provider hsmprov -provider default)

echo "== 1. chain to the pinned roots ($roots)"
# The target by plain path (the leaf); the chain from pkc:, which gives every certificate.
openssl verify "${with_provider[@]}" -CAfile "$roots" -untrusted "pkc:$pkc" "$pkc"

echo "== 2. the CSR's own signature"
openssl req -in "$csr" -verify -noout

echo "== 3. the CSR's key is the attested key"
attested=$(openssl pkey "${with_provider[@]}" -pubin -in "$pkc" -outform DER | sha256sum)
requested=$(openssl req -in "$csr" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum)
if [ "$attested" != "$requested" ]; then
  echo "the CSR's public key is NOT the attested key" >&2
  exit 1
fi
echo "the PKC and the CSR check out"
