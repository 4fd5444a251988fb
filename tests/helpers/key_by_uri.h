// Shared by the test and benchmark programs: the first private key a URI
// gives through OSSL_STORE (the provider comes from OPENSSL_CONF, or from
// the config loaded into `libctx`), one signature with it, and a key's
// public half as a software key of OpenSSL's default provider.
#pragma once

#include <openssl/evp.h>
#include <openssl/store.h>
#include <openssl/x509.h>

// nullptr when the URI gives no private key.
inline EVP_PKEY* load_private_key(const char* uri, OSSL_LIB_CTX* libctx = nullptr) {
  OSSL_STORE_CTX* store = OSSL_STORE_open_ex(uri, libctx, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
  EVP_PKEY* key = nullptr;
  while (store != nullptr && key == nullptr && !OSSL_STORE_eof(store)) {
    OSSL_STORE_INFO* info = OSSL_STORE_load(store);
    if (info != nullptr && OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY) key = OSSL_STORE_INFO_get1_PKEY(info);
    OSSL_STORE_INFO_free(info);
  }
  OSSL_STORE_close(store);
  return key;
}

// nullptr when the key cannot be encoded and read back.
inline EVP_PKEY* software_public_key(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  int size = i2d_PUBKEY(key, &der);
  const unsigned char* p = der;
  EVP_PKEY* pub = size > 0 ? d2i_PUBKEY_ex(nullptr, &p, size, nullptr, "provider=default") : nullptr;
  OPENSSL_free(der);
  return pub;
}

// One SHA-256 signature with `key` (fetched in `libctx`); false when it fails.
inline bool signs_once(EVP_PKEY* key, OSSL_LIB_CTX* libctx = nullptr) {
  unsigned char sig[1024];
  size_t size = sizeof sig;
  const unsigned char message[] = "one signature";
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr && EVP_DigestSignInit_ex(ctx, nullptr, "SHA256", libctx, nullptr, key, nullptr) == 1 &&
            EVP_DigestSign(ctx, sig, &size, message, sizeof message) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}
