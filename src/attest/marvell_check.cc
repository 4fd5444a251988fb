// The verdict on a Marvell attestation: its signature by the partition
// key, that key's two certificate chains (the manufacturer's, to Marvell's
// root: a genuine HSM; the owner's, to Google's: the HSM is the cloud's),
// and the key's attributes.
#include "attest/marvell_check.h"

#include <set>

#include "attest/chain.h"
#include "attest/marvell.h"
#include "error.h"
#include "pkcs11/p11.h"

namespace hsmprov::attest::marvell {
namespace {

std::string flag_text(const KeyObject& object, uint32_t type) {
  auto value = object.flag(type);
  return value ? (*value ? "true" : "false") : "";
}

// The private key's object says how the key was made and whether it can leave.
RuleResult generated_in_hsm(const KeyObject& key) {
  auto local = key.flag(CKA_LOCAL);
  if (local == true) return {"generated-in-hsm", true, "generated in the HSM: the private key's CKA_LOCAL is true"};
  return {"generated-in-hsm", false,
          std::string("the private key's CKA_LOCAL is ") + (local ? "false" : "absent") +
              ": the key was not shown to be generated in the HSM"};
}

// A flag the blob does not give counts as the unsafe value, and says so.
RuleResult never_extractable(const KeyObject& key) {
  auto extractable = key.flag(CKA_EXTRACTABLE);
  auto never = key.flag(CKA_NEVER_EXTRACTABLE);
  if (extractable == false && never == true)
    return {"never-extractable", true, "the private key's CKA_EXTRACTABLE is false and CKA_NEVER_EXTRACTABLE true"};
  std::string detail = !extractable ? "the private key's CKA_EXTRACTABLE is absent"
                       : *extractable ? "the private key is extractable (CKA_EXTRACTABLE true)"
                       : !never ? "the private key's CKA_NEVER_EXTRACTABLE is absent"
                                : "the private key was extractable once (CKA_NEVER_EXTRACTABLE false)";
  return {"never-extractable", false, detail};
}

// A label or id as text, up to its NUL padding. The key's owner chose it:
// bytes outside printable ASCII are shown as \xNN, so that no newline or
// terminal escape can fake a line of the report.
std::string text_attribute(const KeyObject& object, uint32_t type) {
  const Bytes* value = object.find(type);
  if (value == nullptr) return "";
  static const char hex[] = "0123456789abcdef";
  std::string text;
  for (unsigned char byte : *value) {
    if (byte == 0) break;
    if (byte >= 0x20 && byte < 0x7f) text += static_cast<char>(byte);
    else text += {'\\', 'x', hex[byte >> 4], hex[byte & 15]};
  }
  return text;
}

std::vector<Fact> facts_of(const Attestation& attestation, const std::string& partition) {
  const KeyObject& key = attestation.private_key;
  return {{"partition", "partition", partition, false},
          {"key_label", "key label", text_attribute(key, CKA_LABEL), false},
          {"key_id", "key id", text_attribute(key, CKA_ID), false},
          {"extractable", "extractable", flag_text(key, CKA_EXTRACTABLE), true},
          {"never_extractable", "never extractable", flag_text(key, CKA_NEVER_EXTRACTABLE), true},
          {"local", "generated in the HSM (CKA_LOCAL)", flag_text(key, CKA_LOCAL), true},
          {"sensitive", "sensitive", flag_text(key, CKA_SENSITIVE), true},
          {"always_sensitive", "always sensitive", flag_text(key, CKA_ALWAYS_SENSITIVE), true}};
}

// The partition certificate's common name: "HSM:<serial>:PARTN:<n>, for FIPS mode".
Device device_of(X509* partition_certificate, std::string& partition) {
  char name[256] = "";
  X509_NAME_get_text_by_NID(X509_get_subject_name(partition_certificate), NID_commonName, name, sizeof name);
  std::string text = name;
  Device device{"LiquidSecurity", "", ""};
  if (text.rfind("HSM:", 0) == 0) {
    size_t end = text.find_first_of(":,", 4);
    device.serial = text.substr(4, end == std::string::npos ? std::string::npos : end - 4);
  }
  if (size_t at = text.find(":PARTN:"); at != std::string::npos)
    partition = text.substr(at + 7, text.find_first_of(",", at) - (at + 7));
  if (text.find("for FIPS mode") != std::string::npos) device.model += " (FIPS mode)";
  return device;
}

// Every given certificate whose key made the attestation's signature.
std::vector<X509*> signers_of(const Attestation& attestation, const std::vector<X509*>& certificates) {
  std::vector<X509*> signers;
  for (X509* c : certificates)
    if (EVP_PKEY* key = X509_get0_pubkey(c); key != nullptr && signed_by(attestation, key)) signers.push_back(c);
  return signers;
}

// Both chains must hold: each signer's to an anchor, and two anchors reached.
void check_chains(Report& report, const std::vector<X509*>& signers, const Checks& checks) {
  std::set<std::string> anchors;
  for (X509* signer : signers) {
    Verdict chain = verify_chain(signer, checks.intermediates, checks.roots, checks.at, /*v1_issuers=*/true);
    if (chain.valid) {
      anchors.insert(chain.path.back());
    } else {
      // Both partition certificates have the same subject: the issuer tells the manufacturer's chain from the owner's.
      report.reasons.push_back("the partition certificate issued by '" + issuer_of(signer) + "': " + chain.reason);
    }
  }
  if (report.reasons.empty() && anchors.size() < 2)
    report.reasons.push_back("the partition key chains to " + std::to_string(anchors.size()) +
                             " trust anchor; a Marvell attestation needs two, the manufacturer's and the owner's "
                             "(give both chains with --chain)");
}

}  // namespace

Report check(const Bytes& input, const Checks& checks) {
  Report report{"marvell", "Marvell", "marvell"};
  try {
    Attestation attestation = parse(input);
    EvpPkeyPtr key = public_key(attestation);
    std::vector<X509*> signers = signers_of(attestation, checks.intermediates);
    std::string partition;
    if (signers.empty()) {
      report.reasons.push_back("no certificate given with --chain made the attestation's signature: the partition "
                               "certificate is missing, or the attestation was altered");
    } else {
      report.device = device_of(signers.front(), partition);
      for (X509* signer : signers) {
        auto chain = chain_of(signer, checks.intermediates);
        report.chain.insert(report.chain.end(), chain.begin(), chain.end());
      }
      check_chains(report, signers, checks);
    }
    report.facts = facts_of(attestation, partition);
    check_key(report, key.get(), key_sha256(key.get()), checks,
              {generated_in_hsm(attestation.private_key), never_extractable(attestation.private_key)});
  } catch (const Error& e) {
    report.reasons.push_back(e.what());
  }
  conclude(report);
  return report;
}

}  // namespace hsmprov::attest::marvell
