// A Luna PKC into the vendor-neutral report.
#include "attest/luna_check.h"

#include "attest/chain.h"
#include "attest/luna_pkc.h"
#include "error.h"

namespace hsmprov::pkc {
namespace {

// parse() admits only chains whose leaf carries Thales' key-attestation EKU,
// which a Luna issues only for a key it generated as never-extractable.
attest::RuleResult generated_in_hsm(const Pkc& pkc) {
  bool attested = !pkc.chain.empty() && pkc.chain.front().role == kRoleKeyAttestation;
  return {"generated-in-hsm", attested,
          attested ? "generated in the HSM and never extractable: the leaf carries Thales' key-attestation EKU "
                     "1.3.6.1.4.1.12383.1.13"
                   : "the leaf does not carry Thales' key-attestation EKU 1.3.6.1.4.1.12383.1.13"};
}

// The "luna" section; its fields are also the top-level ones of the JSON verdict's first version.
std::vector<attest::Fact> luna_facts(const Pkc& pkc) {
  return {{"profile", "profile", pkc.profile},
          {"ouid", "OUID", key_ouid(pkc)},
          {"hsm_serial", "HSM serial", hsm_serial(pkc)},
          {"firmware", "firmware", firmware_version(pkc)},
          {"model", "model", hsm_model(pkc)}};
}

void describe(attest::Report& report, const Pkc& pkc) {
  report.device = {hsm_model(pkc), hsm_serial(pkc), firmware_version(pkc)};
  report.facts = luna_facts(pkc);
  for (const Certificate& c : pkc.chain)
    report.chain.push_back(
        {attest::subject_of(c.x509.get()), attest::validity_of(c.x509.get()), c.signature_reencoded});
}

}  // namespace

attest::Report check(const Bytes& input, const attest::Checks& checks) {
  attest::Report report{"luna-pkc", "Thales", "luna"};
  std::optional<Pkc> pkc;
  try {
    pkc = parse(input);
  } catch (const Error& e) {
    report.reasons.push_back(e.what());
  }
  if (pkc) {
    describe(report, *pkc);
    std::vector<X509*> untrusted;
    for (size_t i = 1; i < pkc->chain.size(); ++i) untrusted.push_back(pkc->chain[i].x509.get());
    attest::check_attested_key(report, pkc->chain.front().x509.get(), untrusted, checks, {generated_in_hsm(*pkc)});
  }
  attest::conclude(report);
  return report;
}

}  // namespace hsmprov::pkc
