// DER TLV reading (definite lengths only, up to 4 length octets) and writing.
#include "pkc/der.h"

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

}  // namespace hsmprov::der
