// Wrap algorithm names (AWS KMS and Google Cloud KMS import documentation).
#include "wrap/wrap_algorithm.h"

#include <regex>

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
  std::smatch m;
  if (std::regex_match(name, m, std::regex("RSAES_OAEP_SHA_(1|256)"))) return with_hash(algorithm, m[1] == "256");
  if (std::regex_match(name, m, std::regex("RSA_AES_KEY_WRAP_SHA_(1|256)"))) {
    algorithm.rsa_aes = true;
    return with_hash(algorithm, m[1] == "256");
  }
  if (std::regex_match(name, m, std::regex("RSA_OAEP_(2048|3072|4096)_SHA(1|256)(_AES_256)?"))) {
    algorithm.rsa_aes = m[3].matched;
    algorithm.required_bits = std::stoi(m[1]);
    return with_hash(algorithm, m[2] == "256");
  }
  if (name == "RSAES_PKCS1_V1_5") {
    algorithm.oaep = false;
    return algorithm;
  }
  return std::nullopt;
}

}  // namespace hsmprov
