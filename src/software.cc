// Software library context setup.
#include "software.h"

#include <openssl/crypto.h>

#include "error.h"

namespace hsmprov {

Software::Software() {
  libctx_ = OSSL_LIB_CTX_new();
  default_ = libctx_ ? OSSL_PROVIDER_load(libctx_, "default") : nullptr;
  if (default_ == nullptr) {
    OSSL_LIB_CTX_free(libctx_);
    fail(HSMPROV_R_INTERNAL, "cannot load OpenSSL's default provider for public-key work");
  }
}

Software::~Software() {
  OSSL_PROVIDER_unload(default_);
  OSSL_LIB_CTX_free(libctx_);
}

}  // namespace hsmprov
