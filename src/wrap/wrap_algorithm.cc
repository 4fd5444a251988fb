// Wrap algorithm names (AWS KMS and Google Cloud KMS import documentation).
#include "wrap/wrap_algorithm.h"

namespace hsmprov {
namespace {

WrapAlgorithm with_hash(WrapAlgorithm algorithm, bool sha256) {
  algorithm.hash = sha256 ? CKM_SHA256 : CKM_SHA_1;
  algorithm.mgf = sha256 ? CKG_MGF1_SHA256 : CKG_MGF1_SHA1;
  return algorithm;
}

}  // namespace

const char* known_wrap_algorithms() {
  return "RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, RSA_AES_KEY_WRAP_SHA_1, RSA_AES_KEY_WRAP_SHA_256 (AWS, Azure), "
         "RSA_OAEP_3072_SHA1_AES_256, RSA_OAEP_4096_SHA256_AES_256, RSA_OAEP_3072_SHA256, ... (Google), "
         "RSAES_PKCS1_V1_5 (legacy, with hsmprov-wrap-legacy:yes)";
}

std::optional<WrapAlgorithm> wrap_algorithm(const std::string& name) {
  WrapAlgorithm algorithm;
  algorithm.name = name;
  for (const char* hash : {"1", "256"}) {
    bool sha256 = std::string(hash) == "256";
    if (name == std::string("RSAES_OAEP_SHA_") + hash) return with_hash(algorithm, sha256);
    if (name == std::string("RSA_AES_KEY_WRAP_SHA_") + hash) {
      algorithm.rsa_aes = true;
      return with_hash(algorithm, sha256);
    }
    for (int bits : {3072, 4096}) {  // Google's import methods: no 2048
      std::string google = "RSA_OAEP_" + std::to_string(bits) + "_SHA" + hash;
      if (name == google || name == google + "_AES_256") {
        algorithm.rsa_aes = name != google;
        algorithm.required_bits = bits;
        return with_hash(algorithm, sha256);
      }
    }
  }
  if (name == "RSAES_PKCS1_V1_5") {
    algorithm.oaep = false;
    return algorithm;
  }
  return std::nullopt;
}

}  // namespace hsmprov
