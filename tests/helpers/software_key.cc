// Test program: a key the program made in software, handed to hsmprov's key
// management (as OpenSSL may do with any key of a type hsmprov manages: the
// first key management of that type in its method store takes it; SoftHSM's
// ML-DSA C_Sign rebuilds its key so). The key is imported into hsmprov
// explicitly, then signs through hsmprov's signature, and (ML-DSA, OpenSSL
// 3.5) through the default provider's named explicitly, as SoftHSM does
// (OpenSSL exports the key from hsmprov for that); every signature is
// verified with the original key.
// Usage: hsmprov_software_key TYPE   (EC, or ML-DSA-65 on OpenSSL 3.5)
// Prints "hsmprov signs: yes|no" and, for ML-DSA, "default signs: yes|no".
#include <cstdio>
#include <cstring>

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "helpers/queued_errors.h"

namespace {

bool signs(EVP_PKEY* key, const char* digest, EVP_PKEY* original) {
  const unsigned char message[] = "a software key, through hsmprov";
  unsigned char sig[5000];
  size_t size = sizeof sig;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = EVP_DigestSignInit_ex(ctx, nullptr, digest, nullptr, nullptr, key, nullptr) == 1 &&
            EVP_DigestSign(ctx, sig, &size, message, sizeof message) == 1;
  EVP_MD_CTX_free(ctx);
  ctx = EVP_MD_CTX_new();
  ok = ok && EVP_DigestVerifyInit_ex(ctx, nullptr, digest, nullptr, "provider=default", original, nullptr) == 1 &&
       EVP_DigestVerify(ctx, sig, size, message, sizeof message) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) std::fprintf(stderr, "%s", queued_errors().c_str());
  return ok;
}

#if OPENSSL_VERSION_NUMBER >= 0x30500000L
// As SoftHSM signs: the default provider's ML-DSA named explicitly.
bool default_signs(EVP_PKEY* key, const char* type, EVP_PKEY* original) {
  const unsigned char message[] = "a software key, through the default provider";
  unsigned char sig[5000];
  size_t size = sizeof sig;
  EVP_SIGNATURE* algorithm = EVP_SIGNATURE_fetch(nullptr, type, "provider=default");
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr);
  bool ok = algorithm != nullptr && ctx != nullptr && EVP_PKEY_sign_message_init(ctx, algorithm, nullptr) == 1 &&
            EVP_PKEY_sign(ctx, sig, &size, message, sizeof message) == 1;
  EVP_PKEY_CTX_free(ctx);
  EVP_SIGNATURE_free(algorithm);
  EVP_MD_CTX* verify = EVP_MD_CTX_new();
  ok = ok && EVP_DigestVerifyInit_ex(verify, nullptr, nullptr, nullptr, "provider=default", original, nullptr) == 1 &&
       EVP_DigestVerify(verify, sig, size, message, sizeof message) == 1;
  EVP_MD_CTX_free(verify);
  if (!ok) std::fprintf(stderr, "%s", queued_errors().c_str());
  return ok;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: hsmprov_software_key TYPE\n");
    return 2;
  }
  bool ec = std::strcmp(argv[1], "EC") == 0;
  EVP_PKEY* original = ec ? EVP_PKEY_Q_keygen(nullptr, "provider=default", "EC", "P-256")
                          : EVP_PKEY_Q_keygen(nullptr, "provider=default", argv[1]);
  OSSL_PARAM* params = nullptr;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, argv[1], "provider=hsmprov");
  EVP_PKEY* imported = nullptr;
  if (original == nullptr || EVP_PKEY_todata(original, EVP_PKEY_KEYPAIR, &params) != 1 || ctx == nullptr ||
      EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &imported, EVP_PKEY_KEYPAIR, params) != 1) {
    std::fprintf(stderr, "cannot hand the key to hsmprov:\n%s", queued_errors().c_str());
    return 1;
  }
  const char* digest = ec ? "SHA256" : nullptr;
  std::printf("hsmprov signs: %s\n", signs(imported, digest, original) ? "yes" : "no");
#if OPENSSL_VERSION_NUMBER >= 0x30500000L
  if (!ec) std::printf("default signs: %s\n", default_signs(imported, argv[1], original) ? "yes" : "no");
#endif
  OSSL_PARAM_free(params);
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(imported);
  EVP_PKEY_free(original);
  return 0;
}
