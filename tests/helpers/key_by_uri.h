// Shared by the test and benchmark programs: the first private key a URI
// gives through OSSL_STORE (the provider comes from OPENSSL_CONF).
#pragma once

#include <openssl/evp.h>
#include <openssl/store.h>

// nullptr when the URI gives no private key.
inline EVP_PKEY* load_private_key(const char* uri) {
  OSSL_STORE_CTX* store = OSSL_STORE_open(uri, nullptr, nullptr, nullptr, nullptr);
  EVP_PKEY* key = nullptr;
  while (store != nullptr && key == nullptr && !OSSL_STORE_eof(store)) {
    OSSL_STORE_INFO* info = OSSL_STORE_load(store);
    if (info != nullptr && OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY) key = OSSL_STORE_INFO_get1_PKEY(info);
    OSSL_STORE_INFO_free(info);
  }
  OSSL_STORE_close(store);
  return key;
}
