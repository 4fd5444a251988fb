// Key pair generation on a token: the private key is sensitive and never
// extractable; an existing label or id is refused, nothing is overwritten.
#pragma once

#include <memory>
#include <string>

#include "keys/core.h"

namespace hsmprov {

struct KeySpec {
  KeyType type = KeyType::rsa;
  size_t bits = 2048;             // RSA
  Bytes public_exponent{1, 0, 1};  // RSA, big-endian
  std::string curve;              // EC: a name OpenSSL knows (P-256, secp384r1, ...)
  std::string uri;                // token and object= label (id= optional)
};

std::shared_ptr<Key> generate_key(Core& core, const KeySpec& spec, const PinPrompt& prompt);

// DER of the named curve's OID, as CKA_EC_PARAMS wants it.
Bytes curve_parameters(const std::string& curve);

}  // namespace hsmprov
