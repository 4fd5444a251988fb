// Fuzz target: a Marvell attestation blob (raw; gzip is zlib's to parse)
// through the attribute parser, the attested key's construction and the
// signature check with the real partition certificate, then through the
// whole check with both real chains, as `hsmprov-pkc verify --chain` runs it.
// No crash, leak or UB on any input; a verdict's reasons agree with it.
#include <cstdint>

#include <openssl/pem.h>

#include "attest/chain.h"
#include "attest/marvell.h"
#include "attest/marvell_check.h"
#include "error.h"

namespace {

namespace attest = hsmprov::attest;

struct Fixtures {
  attest::X509StorePtr roots = attest::load_roots({HSMPROV_FUZZ_MARVELL_ROOTS});
  std::vector<attest::X509Ptr> chain;
  std::vector<X509*> chain_pointers;
  Fixtures() {
    hsmprov::BioPtr in(BIO_new_file(HSMPROV_FUZZ_MARVELL_CHAIN, "r"));
    while (X509* c = in ? PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr) : nullptr) {
      chain.emplace_back(c);
      chain_pointers.push_back(c);
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixtures fixtures;
  hsmprov::Bytes input(data, data + size);
  if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) return 0;  // gzip: not this target's parser
  try {
    attest::marvell::Attestation attestation = attest::marvell::parse(input);
    hsmprov::EvpPkeyPtr key = attest::marvell::public_key(attestation);
    attest::marvell::signed_by(attestation, X509_get0_pubkey(fixtures.chain.front().get()));
  } catch (const hsmprov::Error&) {
  }
  attest::Checks checks{fixtures.roots.get(), fixtures.chain_pointers, std::nullopt, nullptr, "code-signing"};
  attest::Report report = attest::marvell::check(input, checks);
  if (report.valid != report.reasons.empty()) __builtin_trap();
  return 0;
}
