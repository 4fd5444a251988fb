// Test program: an application that initialises a PKCS#11 module itself and
// then uses a key of the same module through hsmprov, loaded into a library
// context of its own from CONFIG. hsmprov must share the module (it finds it
// already initialised) and must not finalise it when the context goes away.
// Usage: hsmprov_shared_module MODULE TOKEN_LABEL CONFIG URI   (PIN in $HSMPROV_TEST_PIN)
// Prints "signed, module still initialised"; exits 0 only then.
#include <cstdio>
#include <cstdlib>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "helpers/key_by_uri.h"
#include "helpers/raw_token.h"

int main(int argc, char** argv) {
  const char* pin = std::getenv("HSMPROV_TEST_PIN");
  if (argc != 5 || pin == nullptr) {
    std::fprintf(stderr, "usage: %s MODULE TOKEN_LABEL CONFIG URI (PIN in $HSMPROV_TEST_PIN)\n", argv[0]);
    return 2;
  }
  raw_token::Token token = raw_token::open(argv[1], "", argv[2], pin);  // the application's own C_Initialize
  OSSL_LIB_CTX* libctx = OSSL_LIB_CTX_new();
  if (libctx == nullptr || !OSSL_LIB_CTX_load_config(libctx, argv[3])) {
    ERR_print_errors_fp(stderr);
    return 2;
  }
  EVP_PKEY* key = load_private_key(argv[4], libctx);
  bool signed_ok = key != nullptr && signs_once(key, libctx);
  if (!signed_ok) ERR_print_errors_fp(stderr);
  EVP_PKEY_free(key);
  OSSL_LIB_CTX_free(libctx);  // unloads hsmprov: it must leave the module to us

  CK_INFO info;
  CK_RV rv = token.p11->C_GetInfo(&info);
  if (rv != CKR_OK) std::fprintf(stderr, "after hsmprov was unloaded: C_GetInfo: 0x%lx\n", static_cast<unsigned long>(rv));
  raw_token::need(token.p11->C_Finalize(nullptr), "C_Finalize");
  if (!signed_ok || rv != CKR_OK) return 1;
  std::printf("signed, module still initialised\n");
  return 0;
}
