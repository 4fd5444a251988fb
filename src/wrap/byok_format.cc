// Azure .byok layout (as Azure Key Vault's BYOK specification gives it).
#include "wrap/byok_format.h"

#include <openssl/evp.h>

#include "json_text.h"

namespace hsmprov {

std::string base64url(const Bytes& data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int size = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(), static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(size));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

std::string azure_byok(const std::string& kid, const Bytes& ciphertext) {
  return "{\"schema_version\":\"1.0.0\",\"header\":{\"kid\":" + json_string(kid) +
         ",\"alg\":\"dir\",\"enc\":\"CKM_RSA_AES_KEY_WRAP\"},\"ciphertext\":\"" + base64url(ciphertext) +
         "\",\"generator\":\"hsmprov " HSMPROV_VERSION "\"}\n";
}

}  // namespace hsmprov
