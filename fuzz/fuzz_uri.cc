// Fuzz target: pkcs11: URI parsing, and the round trip of what a URI
// selects into the URI hsmprov writes in a key reference: the written URI
// must parse and select the same objects (class, label, id).
#include <cstdint>
#include <cstring>
#include <string>

#include "error.h"
#include "uri.h"

namespace {

CK_TOKEN_INFO fixed_token() {
  CK_TOKEN_INFO info;
  std::memset(&info, ' ', sizeof info);
  std::memcpy(info.label, "fuzz", 4);
  return info;
}

bool same(const std::vector<hsmprov::Attribute>& a, const std::vector<hsmprov::Attribute>& b) {
  if (a.size() != b.size()) return false;
  for (const hsmprov::Attribute& x : a) {
    bool found = false;
    for (const hsmprov::Attribute& y : b) found = found || (x.type == y.type && x.value == y.value);
    if (!found) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    hsmprov::Uri uri = hsmprov::Uri::parse(text);
    std::string written = hsmprov::object_uri(fixed_token(), uri.object_attributes());
    hsmprov::Uri again = hsmprov::Uri::parse(written);
    if (!same(uri.object_attributes(), again.object_attributes())) __builtin_trap();
  } catch (const hsmprov::Error&) {
    // refused with a reason: what a malformed URI must get
  }
  return 0;
}
