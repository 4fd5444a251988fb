// The checks all attestations share, filling the vendor-neutral report.
#include "attest/report.h"

#include "attest/chain.h"

namespace hsmprov::attest {

void check_attested_key(Report& report, X509* leaf, std::vector<X509*> untrusted, const Checks& checks,
                        std::vector<RuleResult> vendor_rules) {
  EVP_PKEY* key = X509_get0_pubkey(leaf);
  report.parsed = true;
  report.key = key_facts(key);
  report.key_sha256 = spki_sha256(X509_get_X509_PUBKEY(leaf));
  report.dates_checked = checks.at.has_value();
  untrusted.insert(untrusted.end(), checks.intermediates.begin(), checks.intermediates.end());
  if (Verdict chain = verify_chain(leaf, untrusted, checks.roots, checks.at); !chain.valid)
    report.reasons.push_back(chain.reason);
  if (checks.csr != nullptr) {
    report.csr_checked = true;
    report.csr_key_sha256 = spki_sha256(X509_REQ_get_X509_PUBKEY(checks.csr));
    Verdict match = match_csr(key, checks.csr);
    report.csr_matches = match.valid;
    if (!match.valid) report.reasons.push_back(match.reason);
  }
  if (!checks.policy.empty()) {
    report.policy = apply_policy(checks.policy, key, std::move(vendor_rules));
    for (const RuleResult& rule : report.policy->rules)
      if (!rule.passed) report.reasons.push_back("policy " + checks.policy + ": " + rule.detail);
  }
}

void conclude(Report& report) {
  report.valid = report.reasons.empty();
  report.reason = report.valid ? "" : report.reasons.front();
}

}  // namespace hsmprov::attest
