// ML-DSA signatures with token keys (FIPS 204; CKM_ML_DSA, PKCS#11 3.2):
// pure ML-DSA over the whole message, with the context string and the
// hedging OpenSSL's parameters ask for, as CK_SIGN_ADDITIONAL_CONTEXT; the
// public half from the token's raw public key; verification in software.
#pragma once

#include "keys/signing.h"

namespace hsmprov {

// A public key object's CKA_VALUE: the raw public key.
EvpPkeyPtr ml_dsa_public_key(OSSL_LIB_CTX* libctx, KeyType type, const Bytes& raw);

Bytes ml_dsa_sign(Key& key, const SignatureSettings& settings, const unsigned char* message, size_t size);
bool ml_dsa_verify(OSSL_LIB_CTX* libctx, Key& key, const SignatureSettings& settings, const unsigned char* sig,
                   size_t sig_size, const unsigned char* message, size_t size);

// A key that lives in software (keys/key.h): signed by OpenSSL's own ML-DSA.
Bytes ml_dsa_sign_in_software(OSSL_LIB_CTX* libctx, Key& key, const SignatureSettings& settings,
                              const unsigned char* message, size_t size);

// DER AlgorithmIdentifier: id-ml-dsa-44/65/87, no parameters (RFC 9881).
Bytes ml_dsa_algorithm_id(KeyType type);

}  // namespace hsmprov
