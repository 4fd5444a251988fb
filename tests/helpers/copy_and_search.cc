// Test program: a key's second signature, which makes its session copy (the
// first uses the token object), in one thread, while the main thread loads
// the same key by URI again (a search of the token) 100 ms later: what a server does when a worker signs
// as another thread loads its key, or a thread recovers. Run with the test
// shim's HSMPROV_SHIM_HALF_MADE_COPY_MS, which shows the copy as SoftHSM
// shows one it has not finished while the signature makes it.
// Usage: hsmprov_copy_and_search URI
// Prints "signed, found the same key" and exits 0; else OpenSSL's errors, 1.
#include <chrono>
#include <cstdio>
#include <thread>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "helpers/key_by_uri.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s URI\n", argv[0]);
    return 2;
  }
  EVP_PKEY* key = load_private_key(argv[1]);
  if (key == nullptr) {
    ERR_print_errors_fp(stderr);
    return 1;
  }
  bool signed_ok = signs_once(key);
  std::thread signer([&] { signed_ok = signs_once(key) && signed_ok; });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EVP_PKEY* again = load_private_key(argv[1]);
  signer.join();
  bool same = again != nullptr && EVP_PKEY_eq(key, again) == 1;
  if (!signed_ok) std::fprintf(stderr, "a signature failed\n");
  if (!same) std::fprintf(stderr, "the key loaded again is not the same key\n");
  if (signed_ok && same)
    std::printf("signed, found the same key\n");
  else
    ERR_print_errors_fp(stderr);
  EVP_PKEY_free(again);
  EVP_PKEY_free(key);
  return signed_ok && same ? 0 : 1;
}
