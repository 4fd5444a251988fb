// A minimal DER/BER reader and writer for the few places we handle encodings
// ourselves: the outer Certificate SEQUENCE of a PKC (to keep its TBS bytes)
// and the DER ECDSA-Sig-Value, made from a token's r||s signature and from
// a PKC certificate's signature that is not DER.
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

// Appends DER length octets (X.690, 8.1.3): short form below 128.
void append_length(std::vector<unsigned char>& out, size_t length);

// A DER TLV around `content`.
std::vector<unsigned char> write(unsigned char tag, const std::vector<unsigned char>& content);

// DER ECDSA-Sig-Value of r and s given as unsigned big-endian magnitudes of
// at most 66 bytes (P-521); throws for other sizes.
std::vector<unsigned char> ecdsa_signature(const unsigned char* r, size_t r_size, const unsigned char* s,
                                           size_t s_size);

}  // namespace hsmprov::der
