// Key type names and ML-DSA's parameter sets.
#include "keys/key_type.h"

#include <openssl/crypto.h>
#include <openssl/opensslv.h>

#include "error.h"

namespace hsmprov {

const char* key_type_name(KeyType type) {
  switch (type) {
    case KeyType::rsa: return "RSA";
    case KeyType::ec: return "EC";
    case KeyType::ed25519: return "ED25519";
    case KeyType::ml_dsa_44: return "ML-DSA-44";
    case KeyType::ml_dsa_65: return "ML-DSA-65";
    case KeyType::ml_dsa_87: return "ML-DSA-87";
  }
  return "?";
}

bool is_ml_dsa(KeyType type) {
  return type == KeyType::ml_dsa_44 || type == KeyType::ml_dsa_65 || type == KeyType::ml_dsa_87;
}

CK_ULONG ml_dsa_parameter_set(KeyType type) {
  return type == KeyType::ml_dsa_44 ? CKP_ML_DSA_44 : type == KeyType::ml_dsa_65 ? CKP_ML_DSA_65 : CKP_ML_DSA_87;
}

std::optional<KeyType> ml_dsa_with_parameter_set(CK_ULONG parameter_set) {
  switch (parameter_set) {
    case CKP_ML_DSA_44: return KeyType::ml_dsa_44;
    case CKP_ML_DSA_65: return KeyType::ml_dsa_65;
    case CKP_ML_DSA_87: return KeyType::ml_dsa_87;
    default: return std::nullopt;
  }
}

std::optional<KeyType> ml_dsa_with_public_key_size(size_t size) {
  switch (size) {
    case 1312: return KeyType::ml_dsa_44;
    case 1952: return KeyType::ml_dsa_65;
    case 2592: return KeyType::ml_dsa_87;
    default: return std::nullopt;
  }
}

void require_openssl_for(KeyType type, const std::string& where) {
#if OPENSSL_VERSION_NUMBER < 0x30500000L
  if (is_ml_dsa(type))
    fail(HSMPROV_R_UNSUPPORTED, where + ": " + key_type_name(type) + " keys need OpenSSL 3.5 or later; this is " +
                                    OpenSSL_version(OPENSSL_VERSION) + " (hsmprov built with " +
                                    OPENSSL_VERSION_TEXT + ")");
#else
  (void)type;
  (void)where;
#endif
}

}  // namespace hsmprov
