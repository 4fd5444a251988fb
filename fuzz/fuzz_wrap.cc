// Fuzz target: wrap algorithm names (-pkeyopt hsmprov-wrap-algorithm:NAME)
// and the Azure .byok output made from a key id and a ciphertext.
#include <cstdint>
#include <string>

#include "wrap/byok_format.h"
#include "wrap/wrap_algorithm.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  if (auto algorithm = hsmprov::wrap_algorithm(text)) {
    if (algorithm->name != text) __builtin_trap();
  }
  size_t split = text.find('\n');
  std::string kid = text.substr(0, split);
  hsmprov::Bytes ciphertext(data + (split == std::string::npos ? size : split), data + size);
  std::string byok = hsmprov::azure_byok(kid, ciphertext);
  if (byok.rfind("{\"schema_version\":\"1.0.0\"", 0) != 0 || byok.substr(byok.size() - 2) != "}\n") __builtin_trap();
  std::string encoded = hsmprov::base64url(ciphertext);
  if (encoded.size() != (ciphertext.size() * 4 + 2) / 3) __builtin_trap();  // unpadded length, RFC 4648 §5
  return 0;
}
