// Fuzz target: a PKC file (DER or PEM) through the structure rules, the
// chain check against the shipped roots, and the match with a CSR, as
// `hsmprov-pkc verify --csr` runs them; and through the PKC decoder's
// steps (the shape test on DER, the PEM block, the attested key's DER).
// No crash, leak or UB on any input.
#include <cstdint>
#include <cstdio>

#include "error.h"
#include "file_bytes.h"
#include "handles.h"
#include "pem_block.h"
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
  if (report.pkc && hsmprov::pkc::attested_key_der(*report.pkc).empty()) __builtin_trap();
  if (hsmprov::pkc::looks_like_pkc(data, size) && size > 0 && data[0] != 0x30) __builtin_trap();
  hsmprov::BioPtr pem(BIO_new_mem_buf(data, static_cast<int>(size)));
  try {
    if (auto block = hsmprov::read_pem_block(pem.get(), hsmprov::pkc::is_pkcs7_label))
      hsmprov::pkc::looks_like_pkc(block->der.data(), block->der.size());
  } catch (const hsmprov::Error&) {  // a damaged block: refused, as it should be
  }
  return 0;
}
