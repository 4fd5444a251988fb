// The key types hsmprov handles: OpenSSL's names for them, and ML-DSA's
// parameter sets (FIPS 204, PKCS#11 3.2). ML-DSA needs OpenSSL 3.5; built
// against an older OpenSSL, hsmprov knows its keys by name only, to say so.
#pragma once

#include <optional>
#include <string>

#include "pkcs11/p11.h"

namespace hsmprov {

enum class KeyType { rsa, ec, ed25519, ml_dsa_44, ml_dsa_65, ml_dsa_87 };

// OpenSSL's name: RSA, EC, ED25519, ML-DSA-44, ML-DSA-65, ML-DSA-87.
const char* key_type_name(KeyType type);

bool is_ml_dsa(KeyType type);
// CKP_ML_DSA_44, _65 or _87.
CK_ULONG ml_dsa_parameter_set(KeyType type);
std::optional<KeyType> ml_dsa_with_parameter_set(CK_ULONG parameter_set);
// 1,312, 1,952 or 2,592 bytes: for tokens that give no CKA_PARAMETER_SET.
std::optional<KeyType> ml_dsa_with_public_key_size(size_t size);

// Throws, naming `where` and the OpenSSL version, when this build cannot
// use keys of `type` (ML-DSA before OpenSSL 3.5).
void require_openssl_for(KeyType type, const std::string& where);

}  // namespace hsmprov
