// DER TLV reading (definite lengths only, up to 4 length octets) and writing.
#include "der.h"

#include "error.h"

namespace hsmprov::der {

std::optional<Tlv> read(const unsigned char* data, size_t size) {
  if (size < 2) return std::nullopt;
  size_t length = data[1], header = 2;
  if (length & 0x80) {
    size_t octets = length & 0x7f;
    if (octets == 0 || octets > 4 || size < 2 + octets) return std::nullopt;
    length = 0;
    for (size_t i = 0; i < octets; ++i) length = (length << 8) | data[2 + i];
    header += octets;
  }
  if (length > size - header) return std::nullopt;
  return Tlv{data[0], data + header, length, header + length};
}

void append_length(std::vector<unsigned char>& out, size_t length) {
  if (length < 128) {
    out.push_back(static_cast<unsigned char>(length));
    return;
  }
  std::vector<unsigned char> octets;
  for (; length > 0; length >>= 8) octets.insert(octets.begin(), static_cast<unsigned char>(length & 0xff));
  out.push_back(static_cast<unsigned char>(0x80 | octets.size()));
  out.insert(out.end(), octets.begin(), octets.end());
}

std::vector<unsigned char> write(unsigned char tag, const std::vector<unsigned char>& content) {
  std::vector<unsigned char> out{tag};
  append_length(out, content.size());
  out.insert(out.end(), content.begin(), content.end());
  return out;
}

namespace {

// A non-negative INTEGER from big-endian bytes: leading zeros dropped, one
// zero put back when the top bit would make it negative.
void append_integer(std::vector<unsigned char>& out, const unsigned char* value, size_t size) {
  while (size > 1 && value[0] == 0) ++value, --size;
  bool pad = (value[0] & 0x80) != 0;
  out.push_back(0x02);
  append_length(out, size + pad);
  if (pad) out.push_back(0);
  out.insert(out.end(), value, value + size);
}

}  // namespace

std::vector<unsigned char> ecdsa_signature(const unsigned char* r, size_t r_size, const unsigned char* s,
                                           size_t s_size) {
  // Written by hand: the ASN.1 template route costs as much as a fifth of a
  // fast token's ECDSA signature.
  if (r_size == 0 || s_size == 0 || r_size > 66 || s_size > 66)
    fail(HSMPROV_R_INVALID_ARGUMENT, "an ECDSA signature value of an impossible size");
  std::vector<unsigned char> body;
  append_integer(body, r, r_size);
  append_integer(body, s, s_size);
  return write(0x30, body);
}

}  // namespace hsmprov::der
