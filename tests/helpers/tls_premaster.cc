// Test program: TLS 1.2 RSA key exchange as libssl asks a key for it
// (EVP_PKEY_decrypt with RSA_PKCS1_WITH_TLS_PADDING and the client's
// version). A good premaster comes back as sent; a wrong version, a bad
// padding or a wrong length gives 48 random bytes with success and an empty
// error queue (implicit rejection); no client version is an error.
// Usage: hsmprov_tls_premaster KEY   (a pkcs11: URI or a key file, loaded
//        through OSSL_STORE with the providers of OPENSSL_CONF)
// Prints one line per case; exits 0 only when every case holds.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "helpers/key_by_uri.h"

namespace {

using Bytes = std::vector<unsigned char>;

Bytes encrypt(EVP_PKEY* pub, const Bytes& message, int padding) {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, pub, "provider=default");
  Bytes out(static_cast<size_t>(EVP_PKEY_get_size(pub)));
  size_t size = out.size();
  bool ok = EVP_PKEY_encrypt_init(ctx) == 1 && EVP_PKEY_CTX_set_rsa_padding(ctx, padding) == 1 &&
            EVP_PKEY_encrypt(ctx, out.data(), &size, message.data(), message.size()) == 1;
  EVP_PKEY_CTX_free(ctx);
  if (!ok) ERR_print_errors_fp(stderr);
  out.resize(ok ? size : 0);
  return out;
}

struct Result {
  int rc;
  Bytes premaster;
  bool queue_empty;
};

Result decrypt_tls(EVP_PKEY* key, const Bytes& ciphertext, unsigned client, unsigned negotiated) {
  ERR_clear_error();
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr);
  Result result{0, Bytes(static_cast<size_t>(EVP_PKEY_get_size(key))), false};
  size_t size = result.premaster.size();
  OSSL_PARAM params[3], *p = params;
  if (client != 0) *p++ = OSSL_PARAM_construct_uint(OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION, &client);
  if (negotiated != 0) *p++ = OSSL_PARAM_construct_uint(OSSL_ASYM_CIPHER_PARAM_TLS_NEGOTIATED_VERSION, &negotiated);
  *p = OSSL_PARAM_construct_end();
  if (EVP_PKEY_decrypt_init(ctx) == 1 && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_WITH_TLS_PADDING) == 1 &&
      EVP_PKEY_CTX_set_params(ctx, params) == 1)
    result.rc = EVP_PKEY_decrypt(ctx, result.premaster.data(), &size, ciphertext.data(), ciphertext.size());
  EVP_PKEY_CTX_free(ctx);
  result.premaster.resize(result.rc == 1 ? size : 0);
  result.queue_empty = ERR_peek_error() == 0;
  return result;
}

Bytes premaster(unsigned char major, unsigned char minor, size_t size = 48) {
  Bytes m(size);
  RAND_bytes(m.data(), static_cast<int>(m.size()));
  m[0] = major;
  m[1] = minor;
  return m;
}

int failures = 0;

void expect(const char* name, bool holds, const std::string& why) {
  std::printf("%s: %s\n", name, holds ? "ok" : ("FAILED: " + why).c_str());
  if (!holds) ++failures;
}

// Success, 48 bytes, nothing on the error queue, and not `sent`.
void expect_rejected(const char* name, const Result& r, const Bytes& sent) {
  bool silent = r.rc == 1 && r.premaster.size() == 48 && r.queue_empty;
  bool replaced = r.premaster.size() != sent.size() || std::memcmp(r.premaster.data(), sent.data(), 48) != 0;
  expect(name, silent && replaced, "rc " + std::to_string(r.rc) + ", " + std::to_string(r.premaster.size()) +
                                       " bytes, queue " + (r.queue_empty ? "empty" : "not empty") +
                                       (replaced ? "" : ", the bad premaster came back"));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s KEY\n", argv[0]);
    return 2;
  }
  EVP_PKEY* key = load_private_key(argv[1]);
  EVP_PKEY* pub = key ? software_public_key(key) : nullptr;
  if (pub == nullptr) {
    ERR_print_errors_fp(stderr);
    return 2;
  }
  const unsigned tls12 = 0x0303, tls10 = 0x0301;

  Bytes good = premaster(3, 3);
  Result r = decrypt_tls(key, encrypt(pub, good, RSA_PKCS1_PADDING), tls12, 0);
  expect("good premaster", r.rc == 1 && r.premaster == good && r.queue_empty, "not returned as sent");

  Bytes old = premaster(3, 1);
  Bytes old_ciphertext = encrypt(pub, old, RSA_PKCS1_PADDING);
  expect_rejected("wrong version", decrypt_tls(key, old_ciphertext, tls12, 0), old);
  r = decrypt_tls(key, old_ciphertext, tls12, tls10);
  expect("negotiated version accepted", r.rc == 1 && r.premaster == old, "not returned as sent");

  Bytes block(static_cast<size_t>(EVP_PKEY_get_size(pub)));
  RAND_bytes(block.data(), static_cast<int>(block.size()));
  block[0] = 0;  // below the modulus; anything but 00 02 after it is bad padding
  block[1] = 0x17;
  Bytes garbage = encrypt(pub, block, RSA_NO_PADDING);
  Result first = decrypt_tls(key, garbage, tls12, 0), second = decrypt_tls(key, garbage, tls12, 0);
  expect_rejected("bad padding", first, Bytes(48));
  expect("bad padding, fresh random each time", first.premaster != second.premaster, "the same bytes twice");

  Bytes short_one = premaster(3, 3, 47);
  expect_rejected("wrong length", decrypt_tls(key, encrypt(pub, short_one, RSA_PKCS1_PADDING), tls12, 0),
                  short_one);

  r = decrypt_tls(key, encrypt(pub, good, RSA_PKCS1_PADDING), 0, 0);
  expect("no client version is an error", r.rc <= 0 && !r.queue_empty, "rc " + std::to_string(r.rc));
  ERR_clear_error();

  EVP_PKEY_free(pub);
  EVP_PKEY_free(key);
  return failures == 0 ? 0 : 1;
}
