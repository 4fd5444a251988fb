// Key rules a CA applies to an attested key before it issues a certificate.
// `code-signing`: CA/Browser Forum Code Signing Baseline Requirements
// §6.1.5.2 (RSA of 3072 bits or more; ECDSA on P-256, P-384 or P-521) and
// §6.2.7.4 (the key generated in, and never leaving, suitable hardware).
// The key rule is the same for every vendor; what shows that the key was
// generated in the device is each vendor's (its own rules, passed in).
#pragma once

#include <string>
#include <vector>

#include <openssl/evp.h>

namespace hsmprov::attest {

struct RuleResult {
  std::string rule;    // "key-type-and-size", "generated-in-hsm", ...
  bool passed = false;
  std::string detail;  // what was found; for a failure, what the rule needs
};

struct PolicyResult {
  std::string name;
  bool passed = false;
  std::vector<RuleResult> rules;
};

// The policy names `--policy` takes.
const std::vector<std::string>& policy_names();

// Applies the named policy (one of policy_names()) to the attested key:
// the key rule first, then the vendor's rules on how the key was made.
PolicyResult apply_policy(const std::string& name, EVP_PKEY* key, std::vector<RuleResult> vendor_rules);

// "RSA", "EC" or "Ed25519"..., the size in bits, and the curve for EC ("" otherwise).
struct KeyFacts {
  std::string type;
  int bits = 0;
  std::string curve;
};
KeyFacts key_facts(EVP_PKEY* key);

}  // namespace hsmprov::attest
