#!/usr/bin/env bash
# What to run before sending a code-signing CSR to a CA: generate the key in
# the Luna (never extractable), make the CSR with `openssl req` (the HSM
# signs), fetch the key's PKC, and check the two together.
#   examples/csr-with-pkc.sh TOKEN_LABEL KEY_LABEL [OUT_DIR] [ROOTS_PEM]
# OPENSSL_CONF must name hsmprov's section (module and PIN); see
# openssl.cnf.example. ROOTS_PEM defaults to the pinned Luna roots.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 2 ] || { echo "usage: $0 TOKEN_LABEL KEY_LABEL [OUT_DIR] [ROOTS_PEM]" >&2; exit 2; }
token=${1// /%20} label=$2 out=${3:-.} roots=${4:-}
pkc_cli=$(command -v hsmprov-pkc || echo "${HSMPROV_BUILD_DIR:-$root/build}/src/hsmprov-pkc")
key="pkcs11:token=$token;object=$label;type=private"

echo "== generate RSA-3072 key '$label' in the HSM"
openssl genpkey -propquery provider=hsmprov -algorithm RSA -pkeyopt rsa_keygen_bits:3072 \
  -pkeyopt "pkcs11_uri:pkcs11:token=$token;object=$label" -out "$out/$label.ref.pem"

echo "== make the CSR (signed in the HSM)"
openssl req -new -key "$key" -subj "/CN=$label" -out "$out/$label.csr"

echo "== fetch the key's PKC"
"$pkc_cli" get --key "$key" -o "$out/$label.pkc.p7b"

echo "== check the PKC and the CSR together, with the code-signing key rules"
"$pkc_cli" verify ${roots:+--roots "$roots"} --policy code-signing --csr "$out/$label.csr" "$out/$label.pkc.p7b"
echo "send $out/$label.csr and $out/$label.pkc.p7b to the CA"
