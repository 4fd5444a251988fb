// Benchmark: signatures per second through the provider (EVP_DigestSign on a
// key loaded by pkcs11: URI) against the same key driven straight through the
// PKCS#11 module (C_Sign on the token object, and on a session copy of it),
// for RSA-2048 and P-256 (and ML-DSA-65 when asked) with 1, 2 and 4 threads.
// Every variant does the same work per signature: SHA-256 of a 64-byte
// message in software, then one C_Sign (CKM_RSA_PKCS over the DigestInfo, or
// CKM_ECDSA over the hash); for ML-DSA-65 one C_Sign (CKM_ML_DSA) over the
// message itself.
// The provider runs two ways: a new EVP_MD_CTX per signature, and one
// context per thread re-initialised (EVP_DigestSignInit_ex with no key) per
// signature. A control column adds to the raw session-copy signature what
// OpenSSL itself spends per new context (EVP_DigestSignInit_ex on a software
// key of the same type, no signing): the part of the gap no provider avoids.
// Variants run interleaved, in rounds, in this one process.
// Usage: hsmprov_sign_bench MODULE TOKEN_LABEL PIN_FILE SECONDS_PER_RUN ROUNDS [KEY [THREADS...]]
//   (the provider is configured by OPENSSL_CONF; keys "bench-rsa", "bench-ec", "bench-mldsa";
//   KEY RSA-2048, P-256 or ML-DSA-65 and THREADS narrow the run, by default RSA-2048 and P-256 at
//   1, 2 and 4)
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "helpers/key_by_uri.h"
#include "helpers/raw_token.h"
#include "keys/mechanism.h"

namespace {

using Clock = std::chrono::steady_clock;

// A key the benchmark signs with: its label in the token, what it signs
// (a SHA-256 hash in a mechanism's input, or the message) and a software
// key of the same type for the control column.
struct KeyKind {
  const char* name;
  const char* label;
  CK_MECHANISM_TYPE mechanism;
  const char* digest;  // the provider's digest; nullptr: the message itself
  const char* keygen;  // EVP_PKEY_Q_keygen's type, then its argument
  const char* keygen_argument;
};
const KeyKind kKinds[] = {{"RSA-2048", "bench-rsa", CKM_RSA_PKCS, "SHA256", "RSA", "2048"},
                          {"P-256", "bench-ec", CKM_ECDSA, "SHA256", "EC", "P-256"},
                          {"ML-DSA-65", "bench-mldsa", CKM_ML_DSA, nullptr, "ML-DSA-65", nullptr}};
const unsigned char kMessage[64] = "benchmark message of 64 bytes, signed again and again by all";

CK_FUNCTION_LIST* p11 = nullptr;
CK_SLOT_ID slot = 0;

void need(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "bench: %s failed\n", what);
    std::exit(1);
  }
}

// One thread's signing loop for `seconds`; returns the signatures made.
using Signer = std::function<void()>;

double rate(int threads, double seconds, const std::function<Signer(int)>& make_signer) {
  std::atomic<bool> stop{false};
  std::atomic<long> done{0};
  std::vector<std::thread> workers;
  auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      Signer sign = make_signer(t);
      long n = 0;
      while (!stop) {
        sign();
        ++n;
      }
      done += n;
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& w : workers) w.join();
  return done / std::chrono::duration<double>(Clock::now() - start).count();
}

constexpr size_t kMaxSignature = 5000;  // ML-DSA-87: 4,627 bytes

Signer provider_signer(EVP_PKEY* key, const char* digest) {
  return [key, digest] {
    unsigned char sig[kMaxSignature];
    size_t size = sizeof sig;
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    need(EVP_DigestSignInit_ex(ctx, nullptr, digest, nullptr, nullptr, key, nullptr) == 1 &&
             EVP_DigestSign(ctx, sig, &size, kMessage, sizeof kMessage) == 1,
         "EVP_DigestSign");
    EVP_MD_CTX_free(ctx);
  };
}

// One context for the thread; each signature re-initialises it without a
// key, so OpenSSL keeps the key's operation context instead of building it.
Signer reinitialising_signer(EVP_PKEY* key, const char* digest) {
  std::shared_ptr<EVP_MD_CTX> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  need(EVP_DigestSignInit_ex(ctx.get(), nullptr, digest, nullptr, nullptr, key, nullptr) == 1, "first init");
  return [ctx, digest] {
    unsigned char sig[kMaxSignature];
    size_t size = sizeof sig;
    need(EVP_DigestSignInit_ex(ctx.get(), nullptr, digest, nullptr, nullptr, nullptr, nullptr) == 1 &&
             EVP_DigestSign(ctx.get(), sig, &size, kMessage, sizeof kMessage) == 1,
         "EVP_DigestSign, context re-initialised");
  };
}

// What the mechanism signs: the DigestInfo (RSA), the hash (ECDSA) or the message (ML-DSA).
hsmprov::Bytes raw_input(const KeyKind& kind) {
  if (kind.digest == nullptr) return hsmprov::Bytes(kMessage, kMessage + sizeof kMessage);
  unsigned char hash[32];
  SHA256(kMessage, sizeof kMessage, hash);
  if (kind.mechanism == CKM_RSA_PKCS) return hsmprov::digest_info(EVP_sha256(), hash, sizeof hash);
  return hsmprov::Bytes(hash, hash + 32);
}

Signer raw_signer(const KeyKind& kind, CK_OBJECT_HANDLE key, CK_SESSION_HANDLE session) {
  return [&kind, key, session] {
    unsigned char sig[kMaxSignature];
    hsmprov::Bytes input = raw_input(kind);
    CK_MECHANISM mechanism{kind.mechanism, nullptr, 0};
    CK_ULONG size = sizeof sig;
    need(p11->C_SignInit(session, &mechanism, key) == CKR_OK &&
             p11->C_Sign(session, input.data(), input.size(), sig, &size) == CKR_OK,
         "C_Sign");
  };
}

// The raw session-copy signature plus OpenSSL's own cost of a new signing
// context (on a software key of the same type, no signing).
Signer control_signer(Signer raw, EVP_PKEY* software_key, const char* digest) {
  return [raw, software_key, digest] {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    need(EVP_DigestSignInit_ex(ctx, nullptr, digest, nullptr, nullptr, software_key, nullptr) == 1,
         "EVP_DigestSignInit_ex on the software key");
    EVP_MD_CTX_free(ctx);
    raw();
  };
}

enum Variant { kFresh, kReinit, kTokenObject, kSessionCopy, kControl, kVariants };

// Signatures per second of each variant, one entry per round.
struct Row {
  std::string key;
  int threads;
  std::array<std::vector<double>, kVariants> rates;
};

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// Median over rounds of a / b within the same round: a burst of load from
// elsewhere on the machine then spoils one round, not the result.
double ratio(const Row& row, Variant a, Variant b) {
  std::vector<double> per_round;
  for (size_t i = 0; i < row.rates[a].size(); ++i) per_round.push_back(row.rates[a][i] / row.rates[b][i]);
  return median(per_round);
}

void print_tables(const std::vector<Row>& rows) {
  std::printf("Signatures per second (median of rounds):\n\n| key | threads | provider, new context | "
              "provider, context re-initialised | raw C_Sign, token object | raw C_Sign, session copy | "
              "raw session copy + OpenSSL context setup |\n|---|---|---|---|---|---|---|\n");
  for (const Row& r : rows)
    std::printf("| %s | %d | %.0f | %.0f | %.0f | %.0f | %.0f |\n", r.key.c_str(), r.threads, median(r.rates[kFresh]),
                median(r.rates[kReinit]), median(r.rates[kTokenObject]), median(r.rates[kSessionCopy]),
                median(r.rates[kControl]));
  std::printf("\nRatios, provider / raw (median of per-round ratios):\n\n| key | threads | new context / token object | "
              "new context / session copy | re-initialised / token object | re-initialised / session copy | "
              "new context / control |\n|---|---|---|---|---|---|---|\n");
  for (const Row& r : rows)
    std::printf("| %s | %d | %.2f | %.2f | %.2f | %.2f | %.2f |\n", r.key.c_str(), r.threads,
                ratio(r, kFresh, kTokenObject), ratio(r, kFresh, kSessionCopy), ratio(r, kReinit, kTokenObject),
                ratio(r, kReinit, kSessionCopy), ratio(r, kFresh, kControl));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: %s MODULE TOKEN_LABEL PIN_FILE SECONDS_PER_RUN ROUNDS [KEY [THREADS...]]\n", argv[0]);
    return 2;
  }
  std::string only_key = argc > 6 ? argv[6] : "";
  std::vector<int> thread_counts;
  for (int i = 7; i < argc; ++i) thread_counts.push_back(std::atoi(argv[i]));
  if (thread_counts.empty()) thread_counts = {1, 2, 4};
  if (!only_key.empty() && only_key != "RSA-2048" && only_key != "P-256" && only_key != "ML-DSA-65") {
    std::fprintf(stderr, "bench: KEY is RSA-2048, P-256 or ML-DSA-65\n");
    return 2;
  }
  for (int threads : thread_counts) {
    if (threads < 1 || threads > 64) {
      std::fprintf(stderr, "bench: THREADS are 1 to 64\n");
      return 2;
    }
  }
  std::string pin;
  std::getline(std::ifstream(argv[3]), pin);
  double seconds = std::atof(argv[4]);
  int rounds = std::atoi(argv[5]);
  std::string token = argv[2];
  raw_token::Token login = raw_token::open(argv[1], "", token, pin);  // its session keeps the login
  p11 = login.p11;
  slot = login.slot;

  std::vector<Row> rows;
  for (const KeyKind& kind : kKinds) {
    bool asked = only_key.empty() ? kind.digest != nullptr : only_key == kind.name;  // ML-DSA only when asked
    if (!asked) continue;
    const char* label = kind.label;
    std::string uri = "pkcs11:token=" + token + ";object=" + label + ";type=private";
    for (size_t at; (at = uri.find(' ')) != std::string::npos;) uri.replace(at, 1, "%20");
    EVP_PKEY* key = load_private_key(uri.c_str());
    need(key != nullptr, "loading the key by URI");
    EVP_PKEY* software_key = kind.keygen_argument == nullptr
                                 ? EVP_PKEY_Q_keygen(nullptr, "provider=default", kind.keygen)
                             : kind.mechanism == CKM_RSA_PKCS
                                 ? EVP_PKEY_Q_keygen(nullptr, "provider=default", kind.keygen, size_t{2048})
                                 : EVP_PKEY_Q_keygen(nullptr, "provider=default", kind.keygen, kind.keygen_argument);
    need(software_key != nullptr, "making the software control key");
    for (int threads : thread_counts) {
      std::vector<CK_SESSION_HANDLE> sessions(threads);
      std::vector<CK_OBJECT_HANDLE> copies(threads);
      CK_OBJECT_HANDLE token_key = CK_INVALID_HANDLE;
      for (int t = 0; t < threads; ++t) {
        p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &sessions[t]);
        token_key = raw_token::find(p11, sessions[t], label, CKO_PRIVATE_KEY);
        CK_BBOOL no = CK_FALSE;
        CK_ATTRIBUTE session_object{CKA_TOKEN, &no, 1};
        need(p11->C_CopyObject(sessions[t], token_key, &session_object, 1, &copies[t]) == CKR_OK, "C_CopyObject");
      }
      auto signer_for = [&](int variant, int t) -> Signer {
        switch (variant) {
          case kFresh: return provider_signer(key, kind.digest);
          case kReinit: return reinitialising_signer(key, kind.digest);
          case kTokenObject: return raw_signer(kind, token_key, sessions[t]);
          case kSessionCopy: return raw_signer(kind, copies[t], sessions[t]);
          default: return control_signer(raw_signer(kind, copies[t], sessions[t]), software_key, kind.digest);
        }
      };
      Row row{kind.name, threads, {}};
      for (int round = 0; round < rounds; ++round) {
        // Interleaved, each round starting with the next variant, so drift
        // and what ran just before hit all variants alike.
        for (int i = 0; i < kVariants; ++i) {
          int variant = (round + i) % kVariants;
          row.rates[variant].push_back(rate(threads, seconds, [&](int t) { return signer_for(variant, t); }));
        }
      }
      rows.push_back(row);
      for (int t = 0; t < threads; ++t) p11->C_CloseSession(sessions[t]);
    }
    EVP_PKEY_free(software_key);
    EVP_PKEY_free(key);
  }
  print_tables(rows);
  return 0;
}
