// Test program: an application that loads a config file of its own into a
// library context (OSSL_LIB_CTX_load_config), not the default one that
// OPENSSL_CONF names, and signs once with a key of hsmprov's from it.
// Usage: hsmprov_libctx_config CONFIG URI
// Prints "signed" and exits 0, or prints OpenSSL's errors and exits 1.
#include <cstdio>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "helpers/key_by_uri.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s CONFIG URI\n", argv[0]);
    return 2;
  }
  OSSL_LIB_CTX* libctx = OSSL_LIB_CTX_new();
  bool ok = libctx != nullptr && OSSL_LIB_CTX_load_config(libctx, argv[1]) == 1;
  EVP_PKEY* key = ok ? load_private_key(argv[2], libctx) : nullptr;
  ok = key != nullptr && signs_once(key, libctx);
  if (ok)
    std::printf("signed\n");
  else
    ERR_print_errors_fp(stderr);
  EVP_PKEY_free(key);
  OSSL_LIB_CTX_free(libctx);
  return ok ? 0 : 1;
}
