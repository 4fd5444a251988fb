// RSA encryption with token keys: the token decrypts (PKCS#1 v1.5, OAEP, or
// a TLS premaster secret), software encrypts with the key's public half.
#pragma once

#include <openssl/rsa.h>

#include "keys/key.h"
#include "keys/tls_premaster.h"

namespace hsmprov {

struct DecryptionSettings {
  int padding = RSA_PKCS1_PADDING;  // or RSA_PKCS1_OAEP_PADDING, RSA_PKCS1_WITH_TLS_PADDING
  const EVP_MD* oaep_md = nullptr;  // none: SHA-1, OpenSSL's default
  const EVP_MD* mgf1 = nullptr;     // none: same as oaep_md
  Bytes label;
  TlsVersions tls;  // RSA_PKCS1_WITH_TLS_PADDING only
};

Bytes decrypt_with_token(Key& key, const DecryptionSettings& settings, const unsigned char* in, size_t size);
Bytes encrypt_in_software(OSSL_LIB_CTX* libctx, Key& key, const DecryptionSettings& settings, const unsigned char* in,
                          size_t size);

}  // namespace hsmprov
