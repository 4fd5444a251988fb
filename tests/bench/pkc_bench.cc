// Benchmark: attestations verified per second by `hsmprov-pkc verify` over
// many files in one call, against the bare cost of what any verifier must
// do, with OpenSSL in a loop in this process: parse the evidence and check
// each signature with its issuer's key (a PKC's certificates; a YubiKey
// attestation and its f9 certificate; a Marvell blob, gunzipped, with each
// chain certificate's key, and the chain certificates themselves). Runs
// interleaved, in rounds.
// Usage: hsmprov_pkc_bench HSMPROV_PKC ROOTS_PEM ROUNDS [--chain PEM] FILE...
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
#include <zlib.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

namespace {

using Clock = std::chrono::steady_clock;
using Bytes = std::vector<unsigned char>;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double run_cli(const std::string& cli, const std::string& roots, const std::string& chain,
               const std::vector<std::string>& files) {
  std::vector<const char*> argv = {cli.c_str(), "verify", "--roots", roots.c_str()};
  if (!chain.empty()) argv.insert(argv.end(), {"--chain", chain.c_str()});
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

// Each certificate's signature checked with its issuer's key, the issuer
// found by name among the others and the roots.
int check_certificates(STACK_OF(X509) * certs, const std::vector<X509*>& roots) {
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
  return good;
}

// A PKC: parse the PKCS#7, check its certificates. The ECC leaf's non-DER
// signature fails here; the cost is what is measured.
int bare_pkc(const Bytes& der, const std::vector<X509*>& roots) {
  const unsigned char* p = der.data();
  PKCS7* p7 = d2i_PKCS7(nullptr, &p, static_cast<long>(der.size()));
  int good = check_certificates(p7->d.sign->cert, roots);
  PKCS7_free(p7);
  return good;
}

STACK_OF(X509) * read_pem_certificates(const Bytes& pem) {
  BIO* in = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  STACK_OF(X509)* certs = sk_X509_new_null();
  while (X509* c = PEM_read_bio_X509(in, nullptr, nullptr, nullptr)) sk_X509_push(certs, c);
  BIO_free(in);
  return certs;
}

// A YubiKey attestation with its f9 certificate: parse both, check both.
int bare_yubikey(const Bytes& pem, const std::vector<X509*>& roots) {
  STACK_OF(X509)* certs = read_pem_certificates(pem);
  int good = check_certificates(certs, roots);
  sk_X509_pop_free(certs, X509_free);
  return good;
}

// A Marvell blob: gunzip it, check its signature (the last 256 bytes) with
// the key of each chain certificate until one made it, and check the chain
// certificates (parsed once, as hsmprov-pkc reads --chain once per call).
int bare_marvell(const Bytes& gz, STACK_OF(X509) * chain, const std::vector<X509*>& roots) {
  Bytes blob(8192);
  uLongf size = blob.size();
  z_stream stream{};
  inflateInit2(&stream, 16 + MAX_WBITS);
  stream.next_in = const_cast<unsigned char*>(gz.data());
  stream.avail_in = static_cast<uInt>(gz.size());
  stream.next_out = blob.data();
  stream.avail_out = static_cast<uInt>(size);
  inflate(&stream, Z_FINISH);
  blob.resize(stream.total_out);
  inflateEnd(&stream);
  int good = 0;
  for (int i = 0; i < sk_X509_num(chain); ++i) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, X509_get0_pubkey(sk_X509_value(chain, i))) == 1 &&
        EVP_DigestVerify(ctx, blob.data() + blob.size() - 256, 256, blob.data(), blob.size() - 256) == 1)
      ++good;
    EVP_MD_CTX_free(ctx);
  }
  return good + check_certificates(chain, roots);
}

Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s HSMPROV_PKC ROOTS_PEM ROUNDS [--chain PEM] FILE...\n", argv[0]);
    return 2;
  }
  std::string cli = argv[1], roots_path = argv[2], chain_path;
  int rounds = std::atoi(argv[3]);
  int first = 4;
  if (std::string(argv[4]) == "--chain" && argc > 6) {
    chain_path = argv[5];
    first = 6;
  }
  std::vector<std::string> files(argv + first, argv + argc);
  std::vector<Bytes> contents;
  for (const std::string& f : files) contents.push_back(read_bytes(f));
  std::vector<X509*> roots;
  FILE* in = std::fopen(roots_path.c_str(), "r");
  while (X509* root = in ? PEM_read_X509(in, nullptr, nullptr, nullptr) : nullptr) roots.push_back(root);
  if (in) std::fclose(in);
  STACK_OF(X509)* chain = chain_path.empty() ? nullptr : read_pem_certificates(read_bytes(chain_path));

  double cli_time = 0, bare_time = 0;
  long checked = 0;
  for (int round = 0; round < rounds; ++round) {
    cli_time += run_cli(cli, roots_path, chain_path, files);
    auto start = Clock::now();
    for (const Bytes& data : contents) {
      if (chain != nullptr) checked += bare_marvell(data, chain, roots);
      else if (data[0] == 0x30) checked += bare_pkc(data, roots);
      else checked += bare_yubikey(data, roots);
    }
    bare_time += seconds_since(start);
  }
  double total = static_cast<double>(files.size()) * rounds;
  std::printf("| %zu | %.0f | %.0f | %.2f |\n", files.size(), total / cli_time, total / bare_time,
              (total / cli_time) / (total / bare_time));
  std::fprintf(stderr, "bare loop checked %ld signatures\n", checked);
  for (X509* root : roots) X509_free(root);
  if (chain != nullptr) sk_X509_pop_free(chain, X509_free);
  return 0;
}
