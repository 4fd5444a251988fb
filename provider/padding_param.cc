/* RSA padding mode parameters, shared by signature.cc and asym_cipher.cc. */
#include "padding_param.h"

#include <cstring>
#include <string>

#include <openssl/params.h>

#include "error.h"

namespace hsmprov {

int padding_from(const OSSL_PARAM* p, const PaddingName* allowed, const char* what) {
  int mode = 0;
  const char* name = nullptr;
  bool is_int = p->data_type == OSSL_PARAM_INTEGER && OSSL_PARAM_get_int(p, &mode);
  if (!is_int && !OSSL_PARAM_get_utf8_string_ptr(p, &name)) fail(HSMPROV_R_INVALID_ARGUMENT, "bad padding mode");
  std::string names;
  for (const PaddingName* entry = allowed; entry->name != nullptr; ++entry) {
    if (is_int ? entry->mode == mode : std::strcmp(entry->name, name) == 0) return entry->mode;
    names += names.empty() ? entry->name : std::string(" and ") + entry->name;
  }
  fail(HSMPROV_R_UNSUPPORTED, std::string(what) + " with token keys support " + names + " padding only");
}

int set_padding(OSSL_PARAM* p, int mode, const PaddingName* allowed) {
  if (p->data_type == OSSL_PARAM_INTEGER) return OSSL_PARAM_set_int(p, mode);
  for (const PaddingName* entry = allowed; entry->name != nullptr; ++entry)
    if (entry->mode == mode) return OSSL_PARAM_set_utf8_string(p, entry->name);
  return 0;
}

}  // namespace hsmprov
