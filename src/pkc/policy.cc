// The code-signing key rules, on what a PKC attests.
#include "pkc/policy.h"

#include <algorithm>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/objects.h>

#include "error.h"

namespace hsmprov::pkc {
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

// parse() admits only chains whose leaf carries Thales' key-attestation EKU,
// which a Luna issues only for a key it generated as never-extractable.
RuleResult generated_in_hsm(const Pkc& pkc) {
  bool attested = !pkc.chain.empty() && pkc.chain.front().role == kRoleKeyAttestation;
  return {"generated-in-hsm", attested,
          attested ? "generated in the HSM and never extractable: the leaf carries Thales' key-attestation EKU "
                     "1.3.6.1.4.1.12383.1.13"
                   : "the leaf does not carry Thales' key-attestation EKU 1.3.6.1.4.1.12383.1.13"};
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

PolicyResult apply_policy(const std::string& name, const Pkc& pkc) {
  if (name != "code-signing") fail(HSMPROV_R_INVALID_ARGUMENT, "unknown policy '" + name + "'");
  PolicyResult result{name, true, {key_type_and_size(key_facts(attested_key(pkc))), generated_in_hsm(pkc)}};
  for (const RuleResult& rule : result.rules) result.passed = result.passed && rule.passed;
  return result;
}

}  // namespace hsmprov::pkc
