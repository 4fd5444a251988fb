// Wrapping a token key for cloud KMS import inside the token (C_WrapKey):
// the key material never exists in clear outside it. RSA-AES forms use the
// token's CKM_RSA_AES_KEY_WRAP, or build the same bytes in the token: an
// ephemeral AES-256 session key wraps the target with RFC 5649 KWP, RSA-OAEP
// wraps the ephemeral key, RSA part first; the ephemeral key is destroyed on
// every path.
#pragma once

#include <string>

#include "keys/core.h"
#include "wrap/wrap_algorithm.h"

namespace hsmprov {

struct WrapRequest {
  std::string target_uri;   // pkcs11: URI of the secret or private key to export
  WrapAlgorithm algorithm;
  bool legacy_allowed = false;  // RSAES_PKCS1_V1_5
};

// `wrapping`: the KMS's RSA public key, a token object or a software key
// (then copied in as a session object and destroyed afterwards).
Bytes wrap_key(Core& core, Key& wrapping, const WrapRequest& request, const PinPrompt& prompt);

}  // namespace hsmprov
