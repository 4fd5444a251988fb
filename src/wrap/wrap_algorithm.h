// Key wrapping algorithms for cloud KMS import, by the names AWS and Google
// give them, with what each means in PKCS#11 terms.
#pragma once

#include <optional>
#include <string>

#include "pkcs11/p11.h"

namespace hsmprov {

struct WrapAlgorithm {
  std::string name;        // as the user wrote it
  bool rsa_aes = false;    // OAEP(ephemeral AES-256) || KWP(target); else plain RSA
  bool oaep = true;        // false: RSAES-PKCS1-v1_5 (legacy)
  CK_MECHANISM_TYPE hash = CKM_SHA_1;
  CK_RSA_PKCS_MGF_TYPE mgf = CKG_MGF1_SHA1;
  int required_bits = 0;   // Google names fix the wrapping key size; 0: any >= 2048
};

// AWS: RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, RSA_AES_KEY_WRAP_SHA_1,
// RSA_AES_KEY_WRAP_SHA_256, RSAES_PKCS1_V1_5. Google:
// RSA_OAEP_{3072,4096}_SHA{1,256}[_AES_256]. nullopt for anything else.
std::optional<WrapAlgorithm> wrap_algorithm(const std::string& name);
const char* known_wrap_algorithms();

}  // namespace hsmprov
