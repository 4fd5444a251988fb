// The software copy of a token key's public half, built from the token's
// attributes (CKA_MODULUS/CKA_PUBLIC_EXPONENT, CKA_EC_PARAMS/CKA_EC_POINT)
// or from a certificate on the token.
#pragma once

#include <vector>

#include "bytes.h"
#include "handles.h"

namespace hsmprov {

EvpPkeyPtr rsa_public_key(OSSL_LIB_CTX* libctx, const Bytes& modulus, const Bytes& exponent);
// ec_params: DER of a named-curve OID; ec_point: DER OCTET STRING or raw.
EvpPkeyPtr ec_public_key(OSSL_LIB_CTX* libctx, const Bytes& ec_params, const Bytes& ec_point);
EvpPkeyPtr ed25519_public_key(OSSL_LIB_CTX* libctx, const Bytes& ec_point);
EvpPkeyPtr certificate_public_key(OSSL_LIB_CTX* libctx, const Bytes& der);
// A DER SubjectPublicKeyInfo (CKA_PUBLIC_KEY_INFO).
EvpPkeyPtr public_key_from_spki(OSSL_LIB_CTX* libctx, const Bytes& der);

// CKA_EC_POINT is a DER OCTET STRING per the spec; some tokens give it raw.
Bytes unwrap_ec_point(const Bytes& ec_point);

}  // namespace hsmprov
