#!/usr/bin/env bash
# The whole workflow on a local SoftHSM token: install what is needed, build
# the provider, make a token, generate a key in it with `openssl genpkey`,
# make a CSR with `openssl req` (the token signs), verify the CSR, and show
# that the private key cannot be taken out.
#   examples/demo.sh            work dir: ./demo (made anew)
#   HSMPROV_DEMO_DIR=DIR examples/demo.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/install-deps.sh"
hsmprov_install_deps

build=${HSMPROV_BUILD_DIR:-$root/build}
if [ ! -f "$build/provider/hsmprov.so" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" -j"$(nproc)" --target hsmprov
fi

work=${HSMPROV_DEMO_DIR:-$PWD/demo}
rm -rf "$work" && mkdir -p "$work/tokens"
step() { printf '\n== %s\n' "$*"; }

step "a SoftHSM token 'demo' in $work/tokens, its PIN in a file only we can read"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$work" \
  > "$work/softhsm2.conf"
export SOFTHSM2_CONF=$work/softhsm2.conf
(umask 077 && od -An -N6 -tx1 /dev/urandom | tr -d ' \n' > "$work/token.pin")
# softhsm2-util takes PINs only as arguments: fine for this throwaway token.
OPENSSL_CONF=/dev/null softhsm2-util --init-token --free --label demo --so-pin "$(cat "$work/token.pin")" \
  --pin "$(cat "$work/token.pin")" >/dev/null

step "openssl.cnf made from openssl.cnf.example: PIN from the file, provider from the build"
sed -e "s|file:/etc/hsmprov/token.pin|file:$work/token.pin|" "$root/openssl.cnf.example" > "$work/openssl.cnf"
export OPENSSL_CONF=$work/openssl.cnf OPENSSL_MODULES=$build/provider
openssl list -providers | sed -n '/hsmprov/,$p'

key='pkcs11:token=demo;object=demo-key;type=private'
step "generate an EC P-256 key pair in the token (genpkey writes a reference, not the key)"
openssl genpkey -propquery provider=hsmprov -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
  -pkeyopt "pkcs11_uri:pkcs11:token=demo;object=demo-key" -out "$work/demo-key.ref.pem"
cat "$work/demo-key.ref.pem"
openssl storeutl 'pkcs11:token=demo'

step "a CSR signed inside the token with openssl req"
openssl req -new -key "$key" -subj "/CN=hsmprov demo/O=Example" -out "$work/demo.csr"
openssl req -in "$work/demo.csr" -noout -subject

step "verify the CSR (stock openssl, no provider) and match it to the token's public key"
OPENSSL_CONF=/dev/null openssl req -in "$work/demo.csr" -verify -noout
OPENSSL_CONF=/dev/null openssl req -in "$work/demo.csr" -pubkey -noout > "$work/csr.pub.pem"
openssl pkey -in "$key" -pubout > "$work/token.pub.pem"
cmp "$work/csr.pub.pem" "$work/token.pub.pem" && echo "the CSR carries the token key's public key"

step "the private key stays in the token"
if openssl pkey -in "$key" -outform DER > /dev/null 2> "$work/refused.txt"; then
  echo "ERROR: the private key was exported" >&2
  exit 1
fi
grep -o "the private key cannot leave the token.*" "$work/refused.txt" | head -1
echo
echo "demo complete: $work"
