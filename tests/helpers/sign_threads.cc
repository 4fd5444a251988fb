// Test program: signs with one token key (loaded by URI through OSSL_STORE,
// the provider coming from OPENSSL_CONF) from several threads at once, and
// optionally in a forked child, verifying every signature in software.
// "reinit": each thread keeps one signing context and re-initialises it
// without a key for every signature (OpenSSL then keeps the key's context).
// "reload": afterwards the URI is loaded again and signs once more, as a
// server does that re-reads its config in the same process.
// "fork-free": like fork, with the key loaded a second time in the parent;
// the child signs, frees that second key (which holds the parent's handles)
// and signs again: the freed key must not touch the child's objects.
// A signature counts as good only if it verifies and leaves OpenSSL's error
// queue empty (a server takes leftover errors as a failed handshake).
// "fork-while-signing": THREADS threads sign without pause while the main
// thread forks PER_THREAD times, each child signing 5 times; a child that
// does not finish within 30 s is killed and counted as hung.
// Usage: hsmprov_sign_threads URI THREADS PER_THREAD [fork|fork-free|reinit|reload|fork-while-signing]
// Prints "ok=N bad=M"; exits 0 only when every signature verified.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "helpers/key_by_uri.h"

namespace {

// Signs with a new context, or re-initialises `reused` (set up on the first
// call) without a key; then verifies with the default provider.
bool sign_and_verify(EVP_PKEY* key, EVP_PKEY* pub, const std::string& message, EVP_MD_CTX* reused = nullptr) {
  unsigned char sig[1024];
  size_t sig_size = sizeof sig;
  EVP_MD_CTX* ctx = reused ? reused : EVP_MD_CTX_new();
  bool first_use = !reused || EVP_MD_CTX_get_pkey_ctx(reused) == nullptr;
  ERR_clear_error();
  bool ok = EVP_DigestSignInit_ex(ctx, nullptr, "SHA256", nullptr, nullptr, first_use ? key : nullptr, nullptr) == 1 &&
            EVP_DigestSign(ctx, sig, &sig_size, reinterpret_cast<const unsigned char*>(message.data()),
                           message.size()) == 1;
  if (!reused) EVP_MD_CTX_free(ctx);
  if (ok && ERR_peek_error() != 0) {
    std::fprintf(stderr, "signed, but errors were left on the queue:\n");
    ok = false;
  }
  if (!ok) {
    ERR_print_errors_fp(stderr);
    return false;
  }
  ctx = EVP_MD_CTX_new();
  ok = EVP_DigestVerifyInit_ex(ctx, nullptr, "SHA256", nullptr, "provider=default", pub, nullptr) == 1 &&
       EVP_DigestVerify(ctx, sig, sig_size, reinterpret_cast<const unsigned char*>(message.data()),
                        message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

void run(EVP_PKEY* key, EVP_PKEY* pub, int threads, int per_thread, bool reinit, std::atomic<int>& ok,
         std::atomic<int>& bad) {
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      EVP_MD_CTX* reused = reinit ? EVP_MD_CTX_new() : nullptr;
      for (int i = 0; i < per_thread; ++i) {
        std::string message = "thread " + std::to_string(t) + " message " + std::to_string(i);
        (sign_and_verify(key, pub, message, reused) ? ok : bad)++;
      }
      EVP_MD_CTX_free(reused);
    });
  }
  for (auto& w : workers) w.join();
}

// A child's fate: it exits with 0 after its signatures verified, or is
// killed after 30 s (it hangs: a lock copied from a parent thread).
enum class Child { ok, failed, hung };

Child wait_bounded(pid_t child) {
  int status = 0;
  for (int waited_ms = 0; waited_ms < 30000; waited_ms += 10) {
    if (waitpid(child, &status, WNOHANG) == child) return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? Child::ok : Child::failed;
    usleep(10000);
  }
  kill(child, SIGKILL);
  waitpid(child, &status, 0);
  return Child::hung;
}

// "fork-while-signing": THREADS threads sign without pause while the main
// thread forks ROUNDS times; each child signs 5 times and exits.
int fork_while_signing(EVP_PKEY* key, EVP_PKEY* pub, int threads, int rounds) {
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, bad{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) (sign_and_verify(key, pub, "thread " + std::to_string(t) + " " + std::to_string(i)) ? ok : bad)++;
    });
  }
  int children_ok = 0, failed = 0, hung = 0;
  for (int r = 0; r < rounds; ++r) {
    usleep(20000);  // the threads are in the middle of their signatures
    pid_t child = fork();
    if (child == 0) {
      bool all = true;
      for (int i = 0; i < 5; ++i) all = sign_and_verify(key, pub, "child " + std::to_string(i)) && all;
      _exit(all ? 0 : 1);
    }
    switch (wait_bounded(child)) {
      case Child::ok: ++children_ok; break;
      case Child::failed: ++failed; break;
      case Child::hung: ++hung; break;
    }
  }
  stop = true;
  for (auto& w : workers) w.join();
  std::printf("children ok=%d failed=%d hung=%d\nok=%d bad=%d\n", children_ok, failed, hung, ok.load(), bad.load());
  return children_ok == rounds && bad == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s URI THREADS PER_THREAD [fork|fork-free|reinit|reload|fork-while-signing]\n",
                 argv[0]);
    return 2;
  }
  int threads = std::atoi(argv[2]), per_thread = std::atoi(argv[3]);
  bool fork_free = argc > 4 && std::strcmp(argv[4], "fork-free") == 0;
  bool fork_child = fork_free || (argc > 4 && std::strcmp(argv[4], "fork") == 0);
  bool reinit = argc > 4 && std::strcmp(argv[4], "reinit") == 0;
  bool reload = argc > 4 && std::strcmp(argv[4], "reload") == 0;
  EVP_PKEY* key = load_private_key(argv[1]);
  EVP_PKEY* pub = key ? software_public_key(key) : nullptr;
  if (key == nullptr || pub == nullptr) {
    ERR_print_errors_fp(stderr);
    std::fprintf(stderr, "cannot load the key\n");
    return 2;
  }
  if (argc > 4 && std::strcmp(argv[4], "fork-while-signing") == 0) {
    int status = fork_while_signing(key, pub, threads, per_thread);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(key);
    return status;
  }
  std::atomic<int> ok{0}, bad{0};
  EVP_PKEY* second = nullptr;
  if (fork_child) {
    (sign_and_verify(key, pub, "before fork") ? ok : bad)++;  // sessions and login exist now
    if (fork_free) second = load_private_key(argv[1]);
    if (second != nullptr) (sign_and_verify(second, pub, "second key before fork") ? ok : bad)++;
    pid_t child = fork();
    if (child == 0) {
      std::atomic<int> child_ok{0}, child_bad{0};
      run(key, pub, threads, per_thread, false, child_ok, child_bad);
      int rounds = 1;
      if (second != nullptr) {
        EVP_PKEY_free(second);
        run(key, pub, threads, per_thread, false, child_ok, child_bad);
        rounds = 2;
      }
      std::printf("child ok=%d bad=%d\n", child_ok.load(), child_bad.load());
      std::fflush(stdout);
      _exit(child_bad == 0 && child_ok == rounds * threads * per_thread ? 0 : 1);
    }
    int status = 0;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) bad++;
    (sign_and_verify(key, pub, "after fork") ? ok : bad)++;  // the parent is unaffected
  } else {
    run(key, pub, threads, per_thread, reinit, ok, bad);
  }
  if (reload) {
    EVP_PKEY* again = load_private_key(argv[1]);
    (again != nullptr && sign_and_verify(again, pub, "after loading again") ? ok : bad)++;
    if (again == nullptr) ERR_print_errors_fp(stderr);
    EVP_PKEY_free(again);
  }
  std::printf("ok=%d bad=%d\n", ok.load(), bad.load());
  int expected = fork_child ? 2 + (fork_free ? 1 : 0) : threads * per_thread + (reload ? 1 : 0);
  EVP_PKEY_free(second);
  EVP_PKEY_free(pub);
  EVP_PKEY_free(key);
  return bad == 0 && ok == expected ? 0 : 1;
}
