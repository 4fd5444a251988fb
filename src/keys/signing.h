// Signatures with token keys: the token signs (the private key stays in it),
// software verifies with the key's public half.
#pragma once

#include <openssl/rsa.h>

#include "keys/key.h"

namespace hsmprov {

struct SignatureSettings {
  int padding = RSA_PKCS1_PADDING;  // RSA only: RSA_PKCS1_PADDING or RSA_PKCS1_PSS_PADDING
  const EVP_MD* md = nullptr;       // hash of the input; none: the input is signed as given
  const EVP_MD* mgf1 = nullptr;     // PSS only; none: same as md
  int saltlen = RSA_PSS_SALTLEN_AUTO;
  // ML-DSA only: the context string (FIPS 204, up to 255 bytes), and a
  // deterministic signature instead of OpenSSL's default, hedged.
  Bytes context;
  bool deterministic = false;
};

// Signs `tbs`: a hash of `settings.md` (RSA, EC) or the message (Ed25519,
// ML-DSA). The result is what OpenSSL expects: PKCS#1/PSS bytes, DER ECDSA,
// raw EdDSA and ML-DSA.
Bytes sign_with_token(Key& key, const SignatureSettings& settings, const unsigned char* tbs, size_t size);

// Signs with a key that lives in software (Key::from_software), as OpenSSL's
// own implementation would: the same result, in the software library context.
Bytes sign_in_software(OSSL_LIB_CTX* libctx, Key& key, const SignatureSettings& settings, const unsigned char* tbs,
                       size_t size);

// Verifies in the software library context; false for a wrong signature.
bool verify_in_software(OSSL_LIB_CTX* libctx, Key& key, const SignatureSettings& settings, const unsigned char* sig,
                        size_t sig_size, const unsigned char* tbs, size_t tbs_size);

// DER AlgorithmIdentifier of the signature (for X.509 and CMS); empty when
// there is none (no digest chosen).
Bytes signature_algorithm_id(KeyType type, const SignatureSettings& settings, const EVP_PKEY* key);

}  // namespace hsmprov
