// Output formats of wrapped keys: raw bytes for AWS and Google, and Azure
// Key Vault's .byok JSON.
#pragma once

#include <string>

#include "bytes.h"

namespace hsmprov {

std::string base64url(const Bytes& data);  // RFC 4648 section 5, no padding
// {"schema_version":"1.0.0","header":{"kid":KID,"alg":"dir","enc":"CKM_RSA_AES_KEY_WRAP"},
//  "ciphertext":BASE64URL,"generator":"hsmprov VERSION"}
std::string azure_byok(const std::string& kid, const Bytes& ciphertext);

}  // namespace hsmprov
