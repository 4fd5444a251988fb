// Test program: what OpenSSL takes a token key for. Loads the first private
// key a URI (or key file) gives through OSSL_STORE, the provider coming from
// OPENSSL_CONF, and prints for each NAME "NAME yes" or "NAME no" as
// EVP_PKEY_is_a says, then the provider that holds the key.
// Usage: hsmprov_key_is URI NAME...
#include <cstdio>

#include <openssl/provider.h>

#include "helpers/key_by_uri.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: hsmprov_key_is URI NAME...\n");
    return 2;
  }
  EVP_PKEY* key = load_private_key(argv[1]);
  if (key == nullptr) {
    std::fprintf(stderr, "no private key from %s\n", argv[1]);
    return 1;
  }
  for (int i = 2; i < argc; ++i) std::printf("%s %s\n", argv[i], EVP_PKEY_is_a(key, argv[i]) ? "yes" : "no");
  const OSSL_PROVIDER* provider = EVP_PKEY_get0_provider(key);
  std::printf("provider %s\n", provider ? OSSL_PROVIDER_get0_name(provider) : "(none)");
  EVP_PKEY_free(key);
  return 0;
}
