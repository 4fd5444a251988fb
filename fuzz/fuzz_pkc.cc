// Fuzz target: an evidence file (DER or PEM) through evidence detection and
// the vendor's checks (a Luna PKC's structure rules, a YubiKey attestation's
// extensions), the chain check against the shipped roots, and the match with
// a CSR, as `hsmprov-pkc verify --csr` runs them; and through the PKC
// decoder's steps (the shape test on DER, the PEM block).
// No crash, leak or UB on any input.
#include <cstdint>
#include <cstdio>

#include "attest/evidence.h"
#include "attest/luna_pkc.h"
#include "error.h"
#include "file_bytes.h"
#include "handles.h"
#include "pem_block.h"

namespace {

struct Fixtures {
  hsmprov::attest::X509StorePtr luna = hsmprov::attest::load_roots({HSMPROV_FUZZ_LUNA_ROOTS});
  hsmprov::attest::X509StorePtr yubico = hsmprov::attest::load_roots({HSMPROV_FUZZ_YUBICO_ROOTS});
  hsmprov::attest::X509StorePtr marvell = hsmprov::attest::load_roots({HSMPROV_FUZZ_MARVELL_ROOTS});
  hsmprov::attest::X509ReqPtr csr = hsmprov::attest::load_csr(*hsmprov::read_file(HSMPROV_FUZZ_CSR));
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixtures fixtures;
  hsmprov::Bytes input(data, data + size);
  hsmprov::attest::Anchors anchors{fixtures.luna.get(), fixtures.yubico.get(), fixtures.marvell.get()};
  hsmprov::attest::Checks checks{nullptr, {}, std::nullopt, fixtures.csr.get(), "code-signing"};
  try {
    // Either a verdict whose reasons say every failure, or Error: no evidence it knows.
    hsmprov::attest::Report report = hsmprov::attest::verify_evidence(input, anchors, checks);
    if (report.valid != report.reasons.empty()) __builtin_trap();  // a verdict and its reasons must agree
    if (report.parsed && report.key_sha256.size() != 64) __builtin_trap();
  } catch (const hsmprov::Error&) {
  }
  if (hsmprov::pkc::looks_like_pkc(data, size) && size > 0 && data[0] != 0x30) __builtin_trap();
  hsmprov::BioPtr pem(BIO_new_mem_buf(data, static_cast<int>(size)));
  try {
    if (auto block = hsmprov::read_pem_block(pem.get(), hsmprov::pkc::is_pkcs7_label))
      hsmprov::pkc::looks_like_pkc(block->der.data(), block->der.size());
  } catch (const hsmprov::Error&) {  // a damaged block: refused, as it should be
  }
  return 0;
}
