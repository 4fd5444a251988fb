// The code-signing key rules, on what an attestation attests.
#include "attest/policy.h"

#include <algorithm>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/objects.h>

#include "error.h"

namespace hsmprov::attest {
namespace {

constexpr int kMinCodeSigningRsaBits = 3072;

RuleResult key_type_and_size(const KeyFacts& key) {
  RuleResult result{"key-type-and-size", false, ""};
  if (key.type == "RSA") {
    result.passed = key.bits >= kMinCodeSigningRsaBits;
    result.detail = "RSA " + std::to_string(key.bits) + " bits" +
                    (result.passed ? "" : "; code signing needs " + std::to_string(kMinCodeSigningRsaBits) + " or more");
  } else if (key.type == "EC") {
    static const std::vector<std::string> curves = {"P-256", "P-384", "P-521"};
    result.passed = std::find(curves.begin(), curves.end(), key.curve) != curves.end();
    result.detail = "EC " + (key.curve.empty() ? std::string("(unnamed curve)") : key.curve) +
                    (result.passed ? "" : "; code signing needs P-256, P-384 or P-521");
  } else {
    result.detail = key.type + " key; code signing needs RSA of 3072 bits or more, or ECDSA on P-256, P-384 or P-521";
  }
  return result;
}

}  // namespace

const std::vector<std::string>& policy_names() {
  static const std::vector<std::string> names = {"code-signing"};
  return names;
}

KeyFacts key_facts(EVP_PKEY* key) {
  KeyFacts facts;
  facts.bits = EVP_PKEY_get_bits(key);
  if (EVP_PKEY_is_a(key, "RSA")) {
    facts.type = "RSA";
  } else if (EVP_PKEY_is_a(key, "EC")) {
    facts.type = "EC";
    char group[64] = "";
    size_t length = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &length)) {
      int nid = OBJ_sn2nid(group);
      const char* nist = nid == NID_undef ? nullptr : EC_curve_nid2nist(nid);
      facts.curve = nist != nullptr ? nist : group;
    }
  } else {
    const char* name = EVP_PKEY_get0_type_name(key);
    facts.type = name != nullptr ? name : "unknown";
  }
  return facts;
}

PolicyResult apply_policy(const std::string& name, EVP_PKEY* key, std::vector<RuleResult> vendor_rules) {
  if (name != "code-signing") fail(HSMPROV_R_INVALID_ARGUMENT, "unknown policy '" + name + "'");
  PolicyResult result{name, true, {key_type_and_size(key_facts(key))}};
  for (RuleResult& rule : vendor_rules) result.rules.push_back(std::move(rule));
  for (const RuleResult& rule : result.rules) result.passed = result.passed && rule.passed;
  return result;
}

}  // namespace hsmprov::attest
