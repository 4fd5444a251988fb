// Benchmark: PKCs verified per second by `hsmprov-pkc verify` over many files
// in one call, against the bare cost of what any verifier must do: parse the
// PKCS#7 and check each certificate's signature with its issuer's key, with
// OpenSSL in a loop in this process. Runs interleaved, in rounds.
// Usage: hsmprov_pkc_bench HSMPROV_PKC ROOTS_PEM ROUNDS FILE...
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <fcntl.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

namespace {

using Clock = std::chrono::steady_clock;
using Bytes = std::vector<unsigned char>;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double run_cli(const std::string& cli, const std::string& roots, const std::vector<std::string>& files) {
  std::vector<const char*> argv = {cli.c_str(), "verify", "--roots", roots.c_str()};
  for (const std::string& f : files) argv.push_back(f.c_str());
  argv.push_back(nullptr);
  auto start = Clock::now();
  pid_t child = fork();
  if (child == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    execv(cli.c_str(), const_cast<char* const*>(argv.data()));
    _exit(127);
  }
  int status = 0;
  waitpid(child, &status, 0);
  double elapsed = seconds_since(start);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "bench: hsmprov-pkc verify failed (status %d)\n", status);
    std::exit(1);
  }
  return elapsed;
}

// Parse, then check each certificate's signature with the next one's key
// (the last with the pinned root of the same name). The ECC leaf's non-DER
// signature fails here; the cost is what is measured.
int bare_verify(const Bytes& der, const std::vector<X509*>& roots) {
  const unsigned char* p = der.data();
  PKCS7* p7 = d2i_PKCS7(nullptr, &p, static_cast<long>(der.size()));
  STACK_OF(X509)* certs = p7->d.sign->cert;
  int good = 0;
  int n = sk_X509_num(certs);
  for (int i = 0; i < n; ++i) {
    X509* cert = sk_X509_value(certs, i);
    X509* issuer = nullptr;
    for (int j = 0; j < n && !issuer; ++j)
      if (j != i && !X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(sk_X509_value(certs, j))))
        issuer = sk_X509_value(certs, j);
    for (X509* root : roots)
      if (!X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(root))) issuer = root;
    if (issuer && X509_verify(cert, X509_get0_pubkey(issuer)) == 1) ++good;
  }
  PKCS7_free(p7);
  return good;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s HSMPROV_PKC ROOTS_PEM ROUNDS FILE...\n", argv[0]);
    return 2;
  }
  std::string cli = argv[1], roots_path = argv[2];
  int rounds = std::atoi(argv[3]);
  std::vector<std::string> files(argv + 4, argv + argc);
  std::vector<Bytes> contents;
  for (const std::string& f : files) {
    std::ifstream in(f, std::ios::binary);
    contents.emplace_back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  std::vector<X509*> roots;
  FILE* in = std::fopen(roots_path.c_str(), "r");
  while (X509* root = in ? PEM_read_X509(in, nullptr, nullptr, nullptr) : nullptr) roots.push_back(root);
  if (in) std::fclose(in);

  double cli_time = 0, bare_time = 0;
  long checked = 0;
  for (int round = 0; round < rounds; ++round) {
    cli_time += run_cli(cli, roots_path, files);
    auto start = Clock::now();
    for (const Bytes& der : contents) checked += bare_verify(der, roots);
    bare_time += seconds_since(start);
  }
  double total = static_cast<double>(files.size()) * rounds;
  std::printf("| files per call | hsmprov-pkc verify PKC/s | bare parse + signatures PKC/s | ratio |\n"
              "|---|---|---|---|\n| %zu | %.0f | %.0f | %.2f |\n",
              files.size(), total / cli_time, total / bare_time, (total / cli_time) / (total / bare_time));
  std::fprintf(stderr, "bare loop checked %ld signatures\n", checked);
  for (X509* root : roots) X509_free(root);
  return 0;
}
