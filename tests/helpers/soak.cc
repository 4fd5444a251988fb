// Test program: a soak. THREADS threads share TOTAL signatures with one
// token key (loaded by URI through OSSL_STORE; the provider from
// OPENSSL_CONF), each verified in software. A signature that fails must
// fail clearly: an error on OpenSSL's queue that names the PKCS#11 call and
// its code. The resident set size is taken after the first tenth of the
// signatures, after half of them and at the end: the allocator's arenas
// (one per thread) are still growing in the first tenth, a leak grows in
// every part alike.
// Usage: hsmprov_soak URI THREADS TOTAL
// Prints "ok=N errors=M bad=K rss_tenth_kb=A rss_half_kb=B rss_end_kb=C";
// exits 0 when no signature was bad (neither verified nor clearly refused).
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "helpers/key_by_uri.h"
#include "helpers/queued_errors.h"

namespace {

long rss_kb() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

enum class Result { verified, clear_error, bad };

Result sign_once(EVP_PKEY* key, EVP_PKEY* pub, unsigned long n) {
  std::string message = "soak " + std::to_string(n);
  unsigned char sig[512];
  size_t size = sizeof sig;
  ERR_clear_error();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool signed_ok = EVP_DigestSignInit_ex(ctx, nullptr, "SHA256", nullptr, nullptr, key, nullptr) == 1 &&
                   EVP_DigestSign(ctx, sig, &size, reinterpret_cast<const unsigned char*>(message.data()),
                                  message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!signed_ok) {
    std::string errors = queued_errors();
    bool clear = errors.find("C_") != std::string::npos && errors.find("CKR_") != std::string::npos;
    if (!clear) std::fprintf(stderr, "a failed signature without a clear error:\n%s", errors.c_str());
    return clear ? Result::clear_error : Result::bad;
  }
  if (ERR_peek_error() != 0) {
    std::fprintf(stderr, "signed, but errors were left on the queue:\n%s", queued_errors().c_str());
    return Result::bad;
  }
  ctx = EVP_MD_CTX_new();
  bool verified = EVP_DigestVerifyInit_ex(ctx, nullptr, "SHA256", nullptr, "provider=default", pub, nullptr) == 1 &&
                  EVP_DigestVerify(ctx, sig, size, reinterpret_cast<const unsigned char*>(message.data()),
                                   message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!verified) std::fprintf(stderr, "signature %lu does not verify\n", n);
  return verified ? Result::verified : Result::bad;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s URI THREADS TOTAL\n", argv[0]);
    return 2;
  }
  EVP_PKEY* key = load_private_key(argv[1]);
  EVP_PKEY* pub = key ? software_public_key(key) : nullptr;
  if (pub == nullptr) {
    std::fprintf(stderr, "cannot load %s\n", argv[1]);
    ERR_print_errors_fp(stderr);
    return 1;
  }
  int threads = std::atoi(argv[2]);
  unsigned long total = std::strtoul(argv[3], nullptr, 10);
  std::atomic<unsigned long> next{0}, verified{0}, clear_errors{0}, bad{0};
  std::atomic<long> rss_tenth{0}, rss_half{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (unsigned long n; (n = next++) < total;) {
        switch (sign_once(key, pub, n)) {
          case Result::verified: ++verified; break;
          case Result::clear_error: ++clear_errors; break;
          case Result::bad: ++bad; break;
        }
        if (n == total / 10) rss_tenth = rss_kb();
        if (n == total / 2) rss_half = rss_kb();
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  std::printf("ok=%lu errors=%lu bad=%lu rss_tenth_kb=%ld rss_half_kb=%ld rss_end_kb=%ld\n", verified.load(),
              clear_errors.load(), bad.load(), rss_tenth.load(), rss_half.load(), rss_kb());
  EVP_PKEY_free(pub);
  EVP_PKEY_free(key);
  return bad == 0 ? 0 : 1;
}
