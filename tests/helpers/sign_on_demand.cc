// Test program: a long-running process with one token key, driven line by
// line on stdin, so that a test can restart or cut the token service
// between its operations. It keeps SIGPIPE's default action (as most
// programs do) unless told otherwise.
// Usage: hsmprov_sign_on_demand URI
// Commands, one a line, each answered by one line:
//   sign             one SHA-256 signature, verified in software: "ok", or
//                    "failed: " and OpenSSL's error queue on one line
//   sign-threads N   N threads released at once, one signature each: "ok"
//                    when every one verified, else the first failure
//   block-sigpipe    blocks SIGPIPE in this (the only) thread: "ok"
//   raise-sigpipe    raises SIGPIPE (block it first): "ok"
//   pending          "sigpipe pending" or "nothing pending"
//   quit             ends the program (so does the end of input)
// The key is loaded at start ("loaded" or "not loaded: ..." is the first line).
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <openssl/evp.h>

#include "helpers/key_by_uri.h"
#include "helpers/queued_errors.h"

namespace {

std::string one_line(std::string text) {
  for (char& c : text)
    if (c == '\n') c = '|';
  return text;
}

bool verifies(EVP_PKEY* pub, const unsigned char* sig, size_t size, const std::string& message) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr &&
            EVP_DigestVerifyInit_ex(ctx, nullptr, "SHA256", nullptr, "provider=default", pub, nullptr) == 1 &&
            EVP_DigestVerify(ctx, sig, size, reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

std::string sign(EVP_PKEY* key, EVP_PKEY* pub, unsigned long n) {
  std::string message = "message " + std::to_string(n);
  unsigned char sig[1024];
  size_t size = sizeof sig;
  ERR_clear_error();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr && EVP_DigestSignInit_ex(ctx, nullptr, "SHA256", nullptr, nullptr, key, nullptr) == 1 &&
            EVP_DigestSign(ctx, sig, &size, reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return "failed: " + one_line(queued_errors());
  if (ERR_peek_error() != 0) return "failed: signed, but errors were left on the queue: " + one_line(queued_errors());
  return verifies(pub, sig, size, message) ? "ok" : "failed: the signature does not verify";
}

std::string sign_from_threads(EVP_PKEY* key, EVP_PKEY* pub, int threads, unsigned long first) {
  std::atomic<int> waiting{threads};
  std::mutex mutex;
  std::string failure;
  std::vector<std::thread> signers;
  for (int t = 0; t < threads; ++t) {
    signers.emplace_back([&, t] {
      --waiting;
      while (waiting.load() > 0) std::this_thread::yield();  // all start together
      std::string result = sign(key, pub, first + static_cast<unsigned long>(t));
      std::lock_guard<std::mutex> lock(mutex);
      if (result != "ok" && failure.empty()) failure = result;
    });
  }
  for (std::thread& signer : signers) signer.join();
  return failure.empty() ? "ok" : failure;
}

bool sigpipe_pending() {
  sigset_t pending;
  sigpending(&pending);
  return sigismember(&pending, SIGPIPE) == 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: hsmprov_sign_on_demand URI\n");
    return 2;
  }
  EVP_PKEY* key = load_private_key(argv[1]);
  EVP_PKEY* pub = key ? software_public_key(key) : nullptr;
  if (pub == nullptr) {
    std::cout << "not loaded: " << one_line(queued_errors()) << std::endl;
    return 1;
  }
  std::cout << "loaded" << std::endl;
  unsigned long n = 0;
  for (std::string command; std::getline(std::cin, command) && command != "quit";) {
    if (command == "sign") {
      std::cout << sign(key, pub, ++n) << std::endl;
    } else if (command.rfind("sign-threads ", 0) == 0) {
      int threads = std::atoi(command.c_str() + 13);
      std::cout << sign_from_threads(key, pub, threads, n + 1) << std::endl;
      n += static_cast<unsigned long>(threads);
    } else if (command == "block-sigpipe" || command == "raise-sigpipe") {
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, SIGPIPE);
      bool done = command == "block-sigpipe" ? sigprocmask(SIG_BLOCK, &set, nullptr) == 0 : raise(SIGPIPE) == 0;
      std::cout << (done ? "ok" : "failed") << std::endl;
    } else if (command == "pending") {
      std::cout << (sigpipe_pending() ? "sigpipe pending" : "nothing pending") << std::endl;
    } else {
      std::cout << "unknown command" << std::endl;
    }
  }
  EVP_PKEY_free(pub);
  EVP_PKEY_free(key);
  return 0;
}
