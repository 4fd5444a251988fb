// Fuzz target: a PKC file (DER or PEM) through the structure rules, the
// chain check against the shipped roots, and the match with a CSR, as
// `hsmprov-pkc verify --csr` runs them. No crash, leak or UB on any input.
#include <cstdint>
#include <cstdio>

#include "file_bytes.h"
#include "pkc/verify.h"

namespace {

struct Fixtures {
  hsmprov::pkc::X509StorePtr roots = hsmprov::pkc::load_roots(HSMPROV_FUZZ_ROOTS);
  hsmprov::pkc::X509ReqPtr csr = hsmprov::pkc::load_csr(*hsmprov::read_file(HSMPROV_FUZZ_CSR));
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixtures fixtures;
  hsmprov::Bytes input(data, data + size);
  // check() turns every refusal into a reason; nothing may escape it.
  hsmprov::pkc::Report report = hsmprov::pkc::check(input, fixtures.roots.get(), std::nullopt, fixtures.csr.get(), "code-signing");
  if (report.valid != report.reasons.empty()) __builtin_trap();  // a verdict and its reasons must agree
  return 0;
}
