#!/usr/bin/env bash
# Import an HSM key into Google Cloud KMS: wrap it inside the HSM under the
# import job's public key, in the import method's format.
#   examples/gcp-import.sh TOKEN_LABEL KEY_LABEL [WORK_DIR]
# Environment: OPENSSL_CONF, TOKEN_PIN_FILE; for a real import IMPORT_JOB,
# KEYRING, LOCATION, KEY_NAME; METHOD (default RSA_OAEP_3072_SHA1_AES_256, the
# import method rsa-oaep-3072-sha1-aes-256). Without gcloud a software
# stand-in plays Cloud KMS.
set -euo pipefail
source "$(dirname "$0")/lib/byok-common.sh"
[ $# -ge 2 ] || { echo "usage: $0 TOKEN_LABEL KEY_LABEL [WORK_DIR]" >&2; exit 2; }
token=$1 label=$2 work=${3:-.}
method=${METHOD:-RSA_OAEP_3072_SHA1_AES_256}
target="pkcs11:token=${token// /%20};object=$label;type=secret-key"
bits=$(echo "$method" | cut -d_ -f3)

echo "== make AES-256 key '$label' in the HSM, CKA_EXTRACTABLE true"
make_extractable_aes "$token" "$label"

if command -v gcloud >/dev/null && [ -n "${IMPORT_JOB:-}" ]; then
  gcloud kms import-jobs describe "$IMPORT_JOB" --location "$LOCATION" --keyring "$KEYRING" \
    --format='value(publicKey.pem)' > "$work/import-job.pem"
  openssl pkey -pubin -in "$work/import-job.pem" -outform DER -out "$work/import-job.der"
else
  echo "== no gcloud or IMPORT_JOB: a software stand-in plays Cloud KMS (gcloud kms import-jobs create)"
  stand_in_kms_key "$bits" "$work"
  cp "$work/wrapping-public.der" "$work/import-job.der"
fi

echo "== wrap in the HSM: $method"
wrap_with_hsmprov "$work/import-job.der" "$target" "$method" "$work/$label.wrapped"

if command -v gcloud >/dev/null && [ -n "${IMPORT_JOB:-}" ]; then
  gcloud kms keys versions import --import-job "$IMPORT_JOB" --location "$LOCATION" --keyring "$KEYRING" \
    --key "$KEY_NAME" --algorithm google-symmetric-encryption --wrapped-key-file "$work/$label.wrapped"
else
  echo "== stand-in for gcloud kms keys versions import"
  sha=1; [[ $method == *SHA256* ]] && sha=256
  rsa_aes=no; [[ $method == *_AES_256 ]] && rsa_aes=yes
  stand_in_import "$work" "$work/$label.wrapped" "$sha" "$rsa_aes"
fi
