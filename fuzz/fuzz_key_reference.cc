// Fuzz target: key reference files, PEM (every block, as OpenSSL's PEM
// decoder reads them one by one) and DER, to the URI they hold; a URI read
// back must be the one that, encoded again, gives the same URI.
#include <cstdint>
#include <string>

#include <openssl/bio.h>

#include "error.h"
#include "keys/key_reference.h"

namespace {

void check_round_trip(const std::string& uri) {
  std::string pem = hsmprov::encode_key_reference(uri);
  BIO* in = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  auto der = hsmprov::read_key_reference_block(in);
  BIO_free(in);
  if (!der || hsmprov::decode_key_reference(*der) != uri) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    hsmprov::Bytes der(data, data + size);
    if (auto uri = hsmprov::decode_key_reference(der)) check_round_trip(*uri);
  } catch (const hsmprov::Error&) {
  }
  BIO* in = BIO_new_mem_buf(data, static_cast<int>(size));
  for (int block = 0; block < 16; ++block) {  // bounded: each call reads one block or stops
    try {
      auto der = hsmprov::read_key_reference_block(in);
      if (!der) break;
      if (auto uri = hsmprov::decode_key_reference(*der)) check_round_trip(*uri);
    } catch (const hsmprov::Error&) {
      break;
    }
  }
  BIO_free(in);
  return 0;
}
