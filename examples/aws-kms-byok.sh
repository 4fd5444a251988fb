#!/usr/bin/env bash
# Bring your own key to AWS KMS: an AES-256 key made in the HSM (extractable,
# as import requires) is wrapped inside the HSM under the KMS's import
# wrapping key; its material never exists in clear outside the HSM.
#   examples/aws-kms-byok.sh TOKEN_LABEL KEY_LABEL [WORK_DIR]
# Environment: OPENSSL_CONF (hsmprov's section: module, PIN), TOKEN_PIN_FILE
# (for making the key), KMS_KEY_ID (an AWS KMS key with origin EXTERNAL),
# ALGORITHM (default RSA_AES_KEY_WRAP_SHA_256; SoftHSM 2.6 needs _SHA_1).
# Without the aws CLI (or KMS_KEY_ID) a software stand-in plays the KMS.
set -euo pipefail
source "$(dirname "$0")/lib/byok-common.sh"
[ $# -ge 2 ] || { echo "usage: $0 TOKEN_LABEL KEY_LABEL [WORK_DIR]" >&2; exit 2; }
token=$1 label=$2 work=${3:-.}
algorithm=${ALGORITHM:-RSA_AES_KEY_WRAP_SHA_256}
target="pkcs11:token=${token// /%20};object=$label;type=secret-key"

echo "== make AES-256 key '$label' in the HSM, CKA_EXTRACTABLE true"
make_extractable_aes "$token" "$label"

if command -v aws >/dev/null && [ -n "${KMS_KEY_ID:-}" ]; then
  echo "== aws kms get-parameters-for-import"
  aws kms get-parameters-for-import --key-id "$KMS_KEY_ID" --wrapping-algorithm "$algorithm" \
    --wrapping-key-spec RSA_3072 --output json > "$work/parameters.json"
  python3 -c 'import json,sys,base64; p=json.load(open(sys.argv[1]));
open(sys.argv[2],"wb").write(base64.b64decode(p["PublicKey"])); open(sys.argv[3],"wb").write(base64.b64decode(p["ImportToken"]))' \
    "$work/parameters.json" "$work/WrappingPublicKey.bin" "$work/ImportToken.bin"
else
  echo "== no aws CLI or KMS_KEY_ID: a software stand-in plays KMS (aws kms get-parameters-for-import)"
  stand_in_kms_key 3072 "$work"
  cp "$work/wrapping-public.der" "$work/WrappingPublicKey.bin"
fi

echo "== wrap in the HSM: $algorithm"
wrap_with_hsmprov "$work/WrappingPublicKey.bin" "$target" "$algorithm" "$work/EncryptedKeyMaterial.bin"
echo "EncryptedKeyMaterial.bin: $(stat -c %s "$work/EncryptedKeyMaterial.bin") bytes"

if command -v aws >/dev/null && [ -n "${KMS_KEY_ID:-}" ]; then
  echo "== aws kms import-key-material"
  aws kms import-key-material --key-id "$KMS_KEY_ID" --encrypted-key-material "fileb://$work/EncryptedKeyMaterial.bin" \
    --import-token "fileb://$work/ImportToken.bin" --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE
else
  echo "== stand-in for aws kms import-key-material"
  sha=1; [[ $algorithm == *256 ]] && sha=256
  rsa_aes=no; [[ $algorithm == RSA_AES_* ]] && rsa_aes=yes
  stand_in_import "$work" "$work/EncryptedKeyMaterial.bin" "$sha" "$rsa_aes"
fi
