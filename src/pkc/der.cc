// DER TLV reading: definite lengths only, up to 4 length octets.
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

std::vector<unsigned char> write(unsigned char tag, const std::vector<unsigned char>& content) {
  std::vector<unsigned char> out{tag};
  size_t size = content.size();
  if (size < 128) {
    out.push_back(static_cast<unsigned char>(size));
  } else {
    std::vector<unsigned char> octets;
    for (; size > 0; size >>= 8) octets.insert(octets.begin(), static_cast<unsigned char>(size & 0xff));
    out.push_back(static_cast<unsigned char>(0x80 | octets.size()));
    out.insert(out.end(), octets.begin(), octets.end());
  }
  out.insert(out.end(), content.begin(), content.end());
  return out;
}

}  // namespace hsmprov::der
