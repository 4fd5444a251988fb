// Software library context setup.
#include "keys/software.h"

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

const EVP_MD* Software::digest(const std::string& name) const {
  std::lock_guard<std::mutex> lock(digests_mutex_);
  EVP_MD*& md = digests_[name];
  if (md == nullptr) md = EVP_MD_fetch(libctx_, name.c_str(), nullptr);
  if (md == nullptr) {
    digests_.erase(name);
    fail(HSMPROV_R_UNSUPPORTED, "unknown digest '" + name + "'");
  }
  return md;
}

Software::~Software() {
  for (auto& [name, md] : digests_) EVP_MD_free(md);
  OSSL_PROVIDER_unload(default_);
  OSSL_LIB_CTX_free(libctx_);
}

}  // namespace hsmprov
