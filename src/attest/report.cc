// The checks all attestations share, filling the vendor-neutral report.
#include "attest/report.h"

#include <algorithm>

#include "attest/chain.h"

namespace hsmprov::attest {

void check_key(Report& report, EVP_PKEY* key, const std::string& key_sha256, const Checks& checks,
               std::vector<RuleResult> vendor_rules) {
  report.parsed = true;
  report.key = key_facts(key);
  report.key_sha256 = key_sha256;
  report.dates_checked = checks.at.has_value();
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

void check_attested_key(Report& report, X509* leaf, std::vector<X509*> untrusted, const Checks& checks,
                        std::vector<RuleResult> vendor_rules) {
  untrusted.insert(untrusted.end(), checks.intermediates.begin(), checks.intermediates.end());
  if (Verdict chain = verify_chain(leaf, untrusted, checks.roots, checks.at); !chain.valid)
    report.reasons.push_back(chain.reason);
  check_key(report, X509_get0_pubkey(leaf), spki_sha256(X509_get_X509_PUBKEY(leaf)), checks, std::move(vendor_rules));
}

std::vector<ChainEntry> chain_of(X509* leaf, std::vector<X509*> candidates) {
  std::vector<ChainEntry> chain;
  for (X509* at = leaf; at != nullptr;) {
    chain.push_back({subject_of(at), validity_of(at), false});
    if (X509_NAME_cmp(X509_get_issuer_name(at), X509_get_subject_name(at)) == 0) break;  // self-issued: the top
    auto issuer = std::find_if(candidates.begin(), candidates.end(), [&](X509* candidate) {
      return X509_NAME_cmp(X509_get_subject_name(candidate), X509_get_issuer_name(at)) == 0;
    });
    if (issuer == candidates.end()) break;
    at = *issuer;
    candidates.erase(issuer);  // each certificate once: no loop
  }
  return chain;
}

void conclude(Report& report) {
  report.valid = report.reasons.empty();
  report.reason = report.valid ? "" : report.reasons.front();
}

}  // namespace hsmprov::attest
