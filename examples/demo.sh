#!/usr/bin/env bash
# The whole workflow on a local SoftHSM token, each step ending with a line
# (=> ...) that says what it proved:
#   1. keys in a token: make a token, generate a key in it with `openssl
#      genpkey`, make a CSR with `openssl req` (the token signs), verify the
#      CSR, and show that the private key cannot be taken out;
#   2. Luna key attestations: verify the two real PKC files in
#      tests/data/luna-pkc with hsmprov-pkc, against the pinned roots and
#      against the roots Thales publishes;
#   3. the code-signing key rules: the RSA 2048 sample fails them, the P-256
#      sample passes;
#   4. BYOK: wrap a token AES-256 key for cloud KMS import, then unwrap it
#      as the KMS would (a software stand-in) and check it is the token's.
#   examples/demo.sh            work dir: ./demo (made anew)
#   HSMPROV_DEMO_DIR=DIR examples/demo.sh
#   HSMPROV_BUILD_DIR=DIR       the build to use (made or brought up to date; default ./build of the checkout)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/install-deps.sh"
source "$root/scripts/build-options.sh"
echo "== preparing: the Debian packages the demo needs"
hsmprov_install_deps

build=${HSMPROV_BUILD_DIR:-$root/build}
pkc_tool=$build/src/hsmprov-pkc
# Built every time (a no-op when up to date): a build older than the checkout
# would show old behaviour. A new build takes tests/run.sh's options, so that
# the test command goes on from it instead of starting again; an existing one
# is used as it is configured.
echo "== preparing: building hsmprov and hsmprov-pkc in $build"
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" "${hsmprov_gcc_build_options[@]}" >/dev/null
fi
cmake --build "$build" -j"$(nproc)" --target hsmprov hsmprov-pkc

work=${HSMPROV_DEMO_DIR:-$PWD/demo}
rm -rf "$work" && mkdir -p "$work/tokens"
step() { printf '\n== %s\n' "$*"; }
proved() { printf '=> %s\n' "$*"; }

echo "### 1. keys that stay in the token, used by stock openssl commands"

step "a SoftHSM token 'demo' in $work/tokens, its PIN in a file only we can read"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$work" \
  > "$work/softhsm2.conf"
export SOFTHSM2_CONF=$work/softhsm2.conf
(umask 077 && od -An -N6 -tx1 /dev/urandom | tr -d ' \n' > "$work/token.pin")
# softhsm2-util and pkcs11-tool take PINs only as arguments: fine for this
# throwaway token, not for a real one on a shared machine.
OPENSSL_CONF=/dev/null softhsm2-util --init-token --free --label demo --so-pin "$(cat "$work/token.pin")" \
  --pin "$(cat "$work/token.pin")" >/dev/null
proved "token 'demo' initialised"

step "openssl.cnf made from openssl.cnf.example: PIN from the file, provider from the build"
sed -e "s|file:/etc/hsmprov/token.pin|file:$work/token.pin|" "$root/openssl.cnf.example" > "$work/openssl.cnf"
export OPENSSL_CONF=$work/openssl.cnf OPENSSL_MODULES=$build/provider
openssl list -providers | sed -n '/hsmprov/,$p'
proved "stock openssl loads hsmprov from the config"

key='pkcs11:token=demo;object=demo-key;type=private'
step "generate an EC P-256 key pair in the token (genpkey writes a reference, not the key)"
openssl genpkey -propquery provider=hsmprov -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
  -pkeyopt "pkcs11_uri:pkcs11:token=demo;object=demo-key" -out "$work/demo-key.ref.pem"
cat "$work/demo-key.ref.pem"
openssl storeutl 'pkcs11:token=demo'
proved "the key pair was generated inside the token; the file holds only its URI"

step "a CSR signed inside the token with openssl req"
openssl req -new -key "$key" -subj "/CN=hsmprov demo/O=Example" -out "$work/demo.csr"
openssl req -in "$work/demo.csr" -noout -subject
proved "openssl req signed with the token key, by its pkcs11: URI"

step "verify the CSR (stock openssl, no provider) and match it to the token's public key"
OPENSSL_CONF=/dev/null openssl req -in "$work/demo.csr" -verify -noout
OPENSSL_CONF=/dev/null openssl req -in "$work/demo.csr" -pubkey -noout > "$work/csr.pub.pem"
openssl pkey -in "$key" -pubout > "$work/token.pub.pem"
cmp "$work/csr.pub.pem" "$work/token.pub.pem"
proved "the CSR carries the token key's public key"

step "the private key stays in the token"
if openssl pkey -in "$key" -outform DER > /dev/null 2> "$work/refused.txt"; then
  echo "ERROR: the private key was exported" >&2
  exit 1
fi
grep -o "the private key cannot leave the token.*" "$work/refused.txt" | head -1
proved "export refused: the private key cannot leave the token"

echo
echo "### 2. Luna key attestations (PKC files), verified offline with hsmprov-pkc"
# The two real PKCs Thales published with its validator, with the CSRs of the
# same keys: rsa-pkc.p7b (RSA 2048, Luna K7) and ecc-pkc.p7b (P-256).
data=tests/data/luna-pkc  # relative to the checkout: verdicts name the files as given

# verify_pkc KIND [OPTION...]: hsmprov-pkc verify --csr KIND-test.csr
# KIND-pkc.p7b; prints the verdict, its reasons, the key and the CSR check
# (the last full report is in $work/pkc.txt); returns hsmprov-pkc's exit status.
verify_pkc() {
  local kind=$1 rc=0
  shift
  (cd "$root" && "$pkc_tool" verify "$@" --csr "$data/$kind-test.csr" "$data/$kind-pkc.p7b") \
    > "$work/pkc.txt" || rc=$?
  grep -E ': (VALID|INVALID)$|^  (reason|key|CSR): ' "$work/pkc.txt" || true
  return $rc
}

step "against the pinned roots (no --roots: the luna-roots.pem hsmprov installs, or the checkout's data/luna-roots.pem)"
verify_pkc rsa
verify_pkc ecc
proved "both PKCs are VALID against the pinned roots, and each CSR carries the attested key"

step "against the roots Thales publishes, as they come (--roots)"
verify_pkc rsa --roots "$data/luna-rsa-root-certificate.pem"
verify_pkc ecc --roots "$data/luna-ecc-root-certificate.pem"
proved "both PKCs are VALID against Thales' published roots, trusted as name and key (RFC 5280)"

echo
echo "### 3. the code-signing key rules (CA/Browser Forum Code Signing BRs)"

step "the RSA sample under --policy code-signing: INVALID (exit status 1) is the expected verdict"
rc=0
verify_pkc rsa --policy code-signing || rc=$?
if [ "$rc" -ne 1 ]; then
  echo "ERROR: expected INVALID (exit status 1) for a 2048-bit RSA key, got exit status $rc" >&2
  exit 1
fi
reason=$(sed -n 's/^  reason: *policy code-signing: //p' "$work/pkc.txt" | head -1)
proved "a 2048-bit RSA key is refused for code signing: $reason"

step "the ECC sample under --policy code-signing"
verify_pkc ecc --policy code-signing
grep -E '^    (ok|FAIL) ' "$work/pkc.txt"
proved "a P-256 key generated in the HSM passes the code-signing key rules"

echo
echo "### 4. BYOK: a token key wrapped for cloud KMS import, and the round trip"
# The wrapping, the stand-in KMS and its unwrap are the ones the BYOK
# examples (aws-kms-byok.sh, gcp-import.sh) use.
source "$root/examples/lib/byok-common.sh"
module=/usr/lib/softhsm/libsofthsm2.so
# Google Cloud KMS's import method rsa-oaep-3072-sha1-aes-256 (AWS KMS calls
# the same form RSA_AES_KEY_WRAP_SHA_1 with an RSA-3072 key): the token wraps
# an ephemeral AES-256 key with RSA-OAEP (SHA-1: SoftHSM 2.6 wraps with no
# other OAEP hash; the _SHA256 form needs a token whose RSA-OAEP takes
# SHA-256), then the target key with it by RFC 5649 AES key wrap with padding.
method=RSA_OAEP_3072_SHA1_AES_256
p11tool() {
  OPENSSL_CONF=/dev/null pkcs11-tool --module "$module" --token-label demo --login \
    --pin "$(cat "$work/token.pin")" "$@"
}

step "an AES-256 key made in the token: sensitive (never readable in clear), extractable (may leave wrapped)"
p11tool --keygen --key-type AES:32 --sensitive --extractable --label demo-aes > "$work/aes-keygen.txt" 2>&1
grep -E '^ *(label|Access):' "$work/aes-keygen.txt"
proved "the AES key was generated inside the token"

step "the cloud KMS's import wrapping key: RSA-3072, made in software (the stand-in for the KMS)"
stand_in_kms_key 3072 "$work"
OPENSSL_CONF=/dev/null openssl pkey -pubin -inform DER -in "$work/wrapping-public.der" -noout -text | head -1
proved "the KMS's public wrapping key is all the token needs"

step "wrap in the token with openssl pkeyutl: $method"
wrap_with_hsmprov "$work/wrapping-public.der" "pkcs11:token=demo;object=demo-aes;type=secret-key" "$method" \
  "$work/demo-aes.wrapped"
size=$(stat -c %s "$work/demo-aes.wrapped")
[ "$size" -eq $((384 + 40)) ] || { echo "ERROR: demo-aes.wrapped has $size bytes, not 424" >&2; exit 1; }
echo "demo-aes.wrapped: $size bytes: 384 of RSA-OAEP (the ephemeral key), 40 of RFC 5649 (the 32-byte key)"
proved "the token wrapped its key; the key never existed in clear outside the token"

step "unwrap as the KMS would (software: RSA-OAEP decrypt, then RFC 5649 unwrap); then the same for a second KMS"
stand_in_import "$work" "$work/demo-aes.wrapped" 1 yes
mv "$work/imported.key" "$work/first-import.key"
# A second KMS key and a second wrap of the same token key: the blobs share
# nothing (a fresh ephemeral AES key each time), the unwrapped keys must be
# the same bytes; so what left the token is the token's key, and the key is
# never printed.
mkdir -p "$work/second-kms"
stand_in_kms_key 3072 "$work/second-kms"
wrap_with_hsmprov "$work/second-kms/wrapping-public.der" "pkcs11:token=demo;object=demo-aes;type=secret-key" \
  "$method" "$work/second-kms/demo-aes.wrapped"
stand_in_import "$work/second-kms" "$work/second-kms/demo-aes.wrapped" 1 yes
size=$(stat -c %s "$work/first-import.key")
if cmp -s "$work/demo-aes.wrapped" "$work/second-kms/demo-aes.wrapped" || [ "$size" -ne 32 ] ||
   ! cmp -s "$work/first-import.key" "$work/second-kms/imported.key"; then
  rm -f "$work/first-import.key" "$work/second-kms/imported.key"
  echo "ERROR: the two imports do not give the same 32-byte key" >&2
  exit 1
fi
rm -f "$work/first-import.key" "$work/second-kms/imported.key"
echo "two wraps under two KMS keys: different blobs, the same 32 bytes unwrapped from both"
proved "BYOK round trip: both unwraps passed RFC 5649's integrity check and gave the same 32-byte AES-256 key, the token's"

echo
echo "demo complete: $work"
