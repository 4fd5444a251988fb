// TLS premaster decryption with implicit rejection, in constant time.
#include "keys/tls_premaster.h"

#include <cstdint>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "error.h"

namespace hsmprov {
namespace {

constexpr size_t kPremasterSize = 48;

// All ones when a == b, else zero, without a branch on the values.
uint64_t same(uint64_t a, uint64_t b) {
  uint64_t x = a ^ b;
  uint64_t nonzero = (x | (0 - x)) >> 63;
  return 0 - (nonzero ^ 1);
}

uint64_t starts_with_version(const unsigned char* m, unsigned version) {
  return same(m[0], (version >> 8) & 0xff) & same(m[1], version & 0xff);
}

}  // namespace

Bytes tls_premaster_secret(Key& key, const TlsVersions& versions, const unsigned char* in, size_t size) {
  if (versions.client == 0)
    fail(HSMPROV_R_INVALID_ARGUMENT, "TLS padding needs the client's version (tls-client-version)");
  Bytes random(kPremasterSize);
  if (RAND_priv_bytes(random.data(), static_cast<int>(random.size())) != 1)
    fail(HSMPROV_R_INTERNAL, "no random bytes for the TLS premaster secret");
  // Room for any plaintext; zeros where the token writes nothing.
  Bytes decrypted(static_cast<size_t>(EVP_PKEY_get_size(key.public_key())));
  CK_ULONG length = decrypted.size();
  CK_MECHANISM mechanism{CKM_RSA_PKCS, nullptr, 0};
  CK_RV rv = key.decrypt_quietly(mechanism, in, size, decrypted.data(), &length);

  uint64_t version_good = starts_with_version(decrypted.data(), versions.client);
  if (versions.negotiated != 0) version_good |= starts_with_version(decrypted.data(), versions.negotiated);
  uint64_t good = same(rv, CKR_OK) & same(length, kPremasterSize) & version_good;
  auto mask = static_cast<unsigned char>(good);
  Bytes premaster(kPremasterSize);
  for (size_t i = 0; i < kPremasterSize; ++i)
    premaster[i] = static_cast<unsigned char>((decrypted[i] & mask) | (random[i] & ~mask));
  OPENSSL_cleanse(decrypted.data(), decrypted.size());
  OPENSSL_cleanse(random.data(), random.size());
  return premaster;
}

}  // namespace hsmprov
