# Shared by the BYOK examples: making an extractable AES key on the token,
# wrapping it with hsmprov, and a software stand-in for the cloud KMS (used
# when the cloud's CLI is absent) that does what the KMS does on import:
# unwrap with its private key. The stand-in exists to show the round trip
# locally; a real KMS never hands its private key out.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export OPENSSL_MODULES=${OPENSSL_MODULES:-${HSMPROV_BUILD_DIR:-$root/build}/provider}
module=${PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}

# make_extractable_aes TOKEN_LABEL KEY_LABEL: an AES-256 key made with
# CKA_EXTRACTABLE true, as import requires (a Luna defaults it to false).
# pkcs11-tool takes the PIN only on its command line; on a shared machine,
# make the key with the HSM's own tool instead (Luna: cmu or ckdemo).
make_extractable_aes() {
  OPENSSL_CONF=/dev/null pkcs11-tool --module "$module" --token-label "$1" --login \
    --pin "$(cat "${TOKEN_PIN_FILE:?TOKEN_PIN_FILE must name the token PIN file}")" \
    --keygen --key-type AES:32 --extractable --label "$2" >/dev/null
}

# wrap_with_hsmprov WRAPPING_KEY_DER TARGET_URI ALGORITHM OUT [pkeyopt...]
wrap_with_hsmprov() {
  local wrapping=$1 target=$2 algorithm=$3 out=$4
  shift 4
  local extra=()
  for option in "$@"; do extra+=(-pkeyopt "$option"); done
  openssl pkeyutl -encrypt -propquery '?provider=hsmprov' -pubin -inkey "$wrapping" -keyform DER \
    -pkeyopt "hsmprov-wrap-target:$target" -pkeyopt "hsmprov-wrap-algorithm:$algorithm" "${extra[@]}" \
    -in /dev/null -out "$out"
}

# stand_in_kms_key BITS DIR: the stand-in's key pair; DIR/wrapping-public.der.
stand_in_kms_key() {
  OPENSSL_CONF=/dev/null openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:$1" -out "$2/stand-in-kms.key" 2>/dev/null
  OPENSSL_CONF=/dev/null openssl pkey -in "$2/stand-in-kms.key" -pubout -outform DER -out "$2/wrapping-public.der"
}

# stand_in_import DIR BLOB SHA(1|256) RSA_AES(yes|no): unwraps as the KMS
# would, into DIR/imported.key, and prints its length.
stand_in_import() {
  local dir=$1 blob=$2 sha=sha$3 rsa_aes=$4 k
  k=$(( $(OPENSSL_CONF=/dev/null openssl pkey -in "$dir/stand-in-kms.key" -noout -text | sed -n 's/.*(\([0-9]*\) bit.*/\1/p' | head -1) / 8 ))
  local oaep=(-pkeyopt rsa_padding_mode:oaep -pkeyopt "rsa_oaep_md:$sha" -pkeyopt "rsa_mgf1_md:$sha")
  if [ "$rsa_aes" = yes ]; then
    head -c "$k" "$blob" > "$dir/rsa-part.bin"
    tail -c +$((k + 1)) "$blob" > "$dir/kwp-part.bin"
    OPENSSL_CONF=/dev/null openssl pkeyutl -decrypt -inkey "$dir/stand-in-kms.key" "${oaep[@]}" \
      -in "$dir/rsa-part.bin" -out "$dir/ephemeral.key"
    OPENSSL_CONF=/dev/null openssl enc -d -id-aes256-wrap-pad -iv A65959A6 \
      -K "$(od -An -tx1 -v "$dir/ephemeral.key" | tr -d ' \n')" -in "$dir/kwp-part.bin" -out "$dir/imported.key"
    rm -f "$dir/ephemeral.key"
  else
    OPENSSL_CONF=/dev/null openssl pkeyutl -decrypt -inkey "$dir/stand-in-kms.key" "${oaep[@]}" -in "$blob" \
      -out "$dir/imported.key"
  fi
  echo "stand-in KMS imported a $(stat -c %s "$dir/imported.key")-byte key"
}
