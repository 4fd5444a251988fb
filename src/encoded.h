// An OpenSSL object's DER through its i2d function, as Bytes, for the
// places that need the bytes themselves (a fingerprint, a parameter).
#pragma once

#include <string>

#include <openssl/crypto.h>

#include "bytes.h"
#include "error.h"

namespace hsmprov {

// Throws Error(HSMPROV_R_INTERNAL) "cannot encode <what>" when i2d fails.
template <typename T>
Bytes encoded(int (*i2d)(const T*, unsigned char**), const T* object, const char* what) {
  unsigned char* der = nullptr;
  int size = i2d(object, &der);
  if (size <= 0) fail(HSMPROV_R_INTERNAL, std::string("cannot encode ") + what);
  Bytes out(der, der + size);
  OPENSSL_free(der);
  return out;
}

}  // namespace hsmprov
