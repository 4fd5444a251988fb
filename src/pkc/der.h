// A minimal DER/BER reader for the few places we must look at encodings
// OpenSSL would normalise: the outer Certificate SEQUENCE (to keep its TBS
// bytes) and ECDSA signatures that are not DER.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

namespace hsmprov::der {

struct Tlv {
  unsigned char tag;
  const unsigned char* content;
  size_t content_size;
  size_t total_size;  // header + content
};

// The TLV at the start of [data, data + size), or nullopt if it does not fit.
std::optional<Tlv> read(const unsigned char* data, size_t size);

// A DER TLV around `content`.
std::vector<unsigned char> write(unsigned char tag, const std::vector<unsigned char>& content);

}  // namespace hsmprov::der
