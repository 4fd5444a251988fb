#!/usr/bin/env bash
# Bring your own key to Azure Key Vault: wrap an HSM key under the vault's
# key exchange key (KEK) inside the HSM and write the .byok file Azure takes.
#   examples/azure-byok.sh TOKEN_LABEL KEY_LABEL [WORK_DIR]
# Environment: OPENSSL_CONF, TOKEN_PIN_FILE, and for a real vault VAULT and
# KEK_NAME (an RSA-HSM key with the import operation). Without the az CLI a
# software stand-in plays the vault.
set -euo pipefail
source "$(dirname "$0")/lib/byok-common.sh"
[ $# -ge 2 ] || { echo "usage: $0 TOKEN_LABEL KEY_LABEL [WORK_DIR]" >&2; exit 2; }
token=$1 label=$2 work=${3:-.}
target="pkcs11:token=${token// /%20};object=$label;type=secret-key"

echo "== make AES-256 key '$label' in the HSM, CKA_EXTRACTABLE true"
make_extractable_aes "$token" "$label"

if command -v az >/dev/null && [ -n "${VAULT:-}" ]; then
  kid=$(az keyvault key show --vault-name "$VAULT" --name "$KEK_NAME" --query key.kid -o tsv)
  az keyvault key download --vault-name "$VAULT" --name "$KEK_NAME" --encoding DER --file "$work/kek.der"
else
  echo "== no az CLI or VAULT: a software stand-in plays Key Vault (az keyvault key create --kty RSA-HSM --ops import)"
  stand_in_kms_key 3072 "$work"
  cp "$work/wrapping-public.der" "$work/kek.der"
  kid="https://stand-in.vault.azure.net/keys/KEK/00000000000000000000000000000000"
fi

echo "== wrap in the HSM: RSA-OAEP-SHA1 + AES-KWP, Azure .byok"
wrap_with_hsmprov "$work/kek.der" "$target" RSA_AES_KEY_WRAP_SHA_1 "$work/$label.byok" \
  hsmprov-wrap-format:azure-byok "hsmprov-azure-kid:$kid"
cat "$work/$label.byok"

if command -v az >/dev/null && [ -n "${VAULT:-}" ]; then
  az keyvault key import --vault-name "$VAULT" --name "$label" --byok-file "$work/$label.byok"
else
  echo "== stand-in for az keyvault key import"
  python3 -c 'import json,sys,base64; c=json.load(open(sys.argv[1]))["ciphertext"];
open(sys.argv[2],"wb").write(base64.urlsafe_b64decode(c + "=" * (-len(c) % 4)))' "$work/$label.byok" "$work/ciphertext.bin"
  stand_in_import "$work" "$work/ciphertext.bin" 1 yes
fi
