// A library context of our own with OpenSSL's default provider: public-key
// operations (verify, encrypt) and hashing run there, in software, so they
// never come back into this provider and work even when the application
// did not load the default provider.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include <openssl/evp.h>
#include <openssl/provider.h>

namespace hsmprov {

class Software {
 public:
  Software();
  ~Software();
  Software(const Software&) = delete;
  Software& operator=(const Software&) = delete;

  OSSL_LIB_CTX* libctx() const { return libctx_; }
  // A digest by name, fetched once: fetching on every signature costs as
  // much as a fast token's ECDSA. Throws for unknown names.
  const EVP_MD* digest(const std::string& name) const;

 private:
  mutable std::mutex digests_mutex_;
  mutable std::map<std::string, EVP_MD*> digests_;
  OSSL_LIB_CTX* libctx_ = nullptr;
  OSSL_PROVIDER* default_ = nullptr;
};

}  // namespace hsmprov
