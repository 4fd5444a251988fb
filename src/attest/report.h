// One verdict shape for every vendor's key attestation: what was checked,
// what failed, and what the evidence tells about the device and the key.
// Each vendor's check fills it; hsmprov-pkc prints from it alone.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <openssl/x509.h>

#include "attest/policy.h"

namespace hsmprov::attest {

// What a verification is given besides the evidence file.
struct Checks {
  X509_STORE* roots = nullptr;      // the trust anchors of this evidence's vendor (see Anchors)
  std::vector<X509*> intermediates;  // candidates for the chain, never anchors
  std::optional<time_t> at;          // check dates at this time; without it, not at all
  X509_REQ* csr = nullptr;           // compare its key with the attested key
  std::string policy;                // one of policy_names(), or empty for none
};

struct ChainEntry {
  std::string subject;
  std::string validity;              // "notBefore .. notAfter"
  bool signature_reencoded = false;  // a Luna ECDSA signature handed on as DER
};

// A vendor's own fact, for its section of the verdict.
struct Fact {
  std::string name;       // the JSON key: "pin_policy"
  std::string label;      // the text's: "PIN policy"
  std::string value;      // "" when the evidence does not give it
  bool boolean = false;   // value is "true" or "false" (or "" when not given)
};

struct Device {
  std::string model;
  std::string serial;
  std::string firmware;
};

struct Report {
  Report(std::string evidence_type, std::string vendor_name, std::string section_name)
      : evidence(std::move(evidence_type)), vendor(std::move(vendor_name)), section(std::move(section_name)) {}

  std::string evidence;               // "luna-pkc", "yubikey-piv", "marvell"
  std::string vendor;                 // "Thales", "Yubico", "Marvell"
  std::string section;                // the vendor section's name: "luna", "yubikey", "marvell"
  bool valid = false;
  std::string reason;                 // the first check that failed
  std::vector<std::string> reasons;   // every check that failed
  bool parsed = false;                // the evidence's structure held: what follows is filled in
  Device device;
  KeyFacts key;
  std::string key_sha256;             // spki_sha256 of the attested key
  bool csr_checked = false;
  bool csr_matches = false;
  std::string csr_key_sha256;         // spki_sha256 of the CSR's key, with a CSR
  bool dates_checked = false;
  std::vector<ChainEntry> chain;      // leaf first
  std::optional<PolicyResult> policy;
  std::vector<Fact> facts;            // the vendor section
};

// The checks on the attested key itself: its facts, the CSR, and the policy
// with the vendor's rules on how the key was made. Failures go to the reasons.
void check_key(Report& report, EVP_PKEY* key, const std::string& key_sha256, const Checks& checks,
               std::vector<RuleResult> vendor_rules);

// The checks every certificate-borne attestation gets, on its attestation
// certificate `leaf`: the key's facts, the chain to the roots (through
// `untrusted` and the given intermediates), the CSR, and the policy with the
// vendor's rules on how the key was made. Failures go to the reasons.
void check_attested_key(Report& report, X509* leaf, std::vector<X509*> untrusted, const Checks& checks,
                        std::vector<RuleResult> vendor_rules);

// The certificates from `leaf` up, each issuer found by name among
// `candidates`, for the report: the chain as given, whether or not it verifies.
std::vector<ChainEntry> chain_of(X509* leaf, std::vector<X509*> candidates);

// valid and reason from the reasons gathered.
void conclude(Report& report);

}  // namespace hsmprov::attest
