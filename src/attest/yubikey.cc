// Yubico's attestation extensions, decoded strictly, and the YubiKey
// attestation into the vendor-neutral report.
#include "attest/yubikey.h"

#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include <cctype>
#include <optional>

#include "attest/chain.h"
#include "error.h"
#include "handles.h"

namespace hsmprov::attest::yubikey {
namespace {

using Asn1IntegerPtr = std::unique_ptr<ASN1_INTEGER, Deleter<ASN1_INTEGER, ASN1_INTEGER_free>>;

// Yubico's PIV attestation extensions, under 1.3.6.1.4.1.41482.3.
struct Extension {
  const char* oid;
  const char* what;
};
constexpr Extension kFirmware{"1.3.6.1.4.1.41482.3.3", "firmware version"};
constexpr Extension kSerial{"1.3.6.1.4.1.41482.3.7", "serial number"};
constexpr Extension kPolicy{"1.3.6.1.4.1.41482.3.8", "PIN and touch policy"};
constexpr Extension kFormFactor{"1.3.6.1.4.1.41482.3.9", "form factor"};
const std::string kSubjectPrefix = "YubiKey PIV Attestation ";

[[noreturn]] void broken(const Extension& extension, const std::string& detail) {
  fail(HSMPROV_R_INVALID_ARGUMENT, std::string("YubiKey attestation: extension ") + extension.oid + " (" +
                                       extension.what + ") " + detail);
}

// The extension's octets, nullopt when the certificate does not carry it.
std::optional<Bytes> value_of(const X509* x509, const Extension& extension) {
  Asn1ObjectPtr object(OBJ_txt2obj(extension.oid, 1));
  int at = X509_get_ext_by_OBJ(x509, object.get(), -1);
  if (at < 0) return std::nullopt;
  if (X509_get_ext_by_OBJ(x509, object.get(), at) >= 0) broken(extension, "appears more than once");
  const ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(X509_get_ext(x509, at));
  const unsigned char* bytes = ASN1_STRING_get0_data(data);
  return Bytes(bytes, bytes + ASN1_STRING_length(data));
}

// The extension's octets when present, which must be `size` of them.
std::optional<Bytes> sized_value(const X509* x509, const Extension& extension, size_t size) {
  std::optional<Bytes> value = value_of(x509, extension);
  if (value && value->size() != size)
    broken(extension, "has " + std::to_string(value->size()) + " bytes; Yubico's has " + std::to_string(size));
  return value;
}

std::string hex_byte(unsigned char byte) {
  static const char hex[] = "0123456789abcdef";
  return {'0', 'x', hex[byte >> 4], hex[byte & 15]};
}

std::string named(unsigned char code, const std::vector<const char*>& names) {
  return code >= 1 && code <= names.size() ? names[code - 1] : "unknown (" + hex_byte(code) + ")";
}

// 3 bytes: major, minor, patch.
std::string firmware(const X509* x509) {
  std::optional<Bytes> value = sized_value(x509, kFirmware, 3);
  if (!value) broken(kFirmware, "is missing");
  return std::to_string((*value)[0]) + "." + std::to_string((*value)[1]) + "." + std::to_string((*value)[2]);
}

// A DER INTEGER inside the extension's octets, and nothing after it.
std::string serial(const X509* x509) {
  std::optional<Bytes> value = value_of(x509, kSerial);
  if (!value) return "";
  const unsigned char* at = value->data();
  Asn1IntegerPtr integer(d2i_ASN1_INTEGER(nullptr, &at, static_cast<long>(value->size())));
  uint64_t number = 0;
  if (!integer || at != value->data() + value->size() || !ASN1_INTEGER_get_uint64(&number, integer.get()))
    broken(kSerial, "is not one DER INTEGER of a non-negative number below 2^64");
  return std::to_string(number);
}

// "YubiKey PIV Attestation 9a": the slot as two hex digits.
std::string slot(const X509* x509) {
  const X509_NAME* name = X509_get_subject_name(x509);
  int at = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  const ASN1_STRING* cn = at < 0 ? nullptr : X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, at));
  std::string text = cn ? std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(cn)),
                                      static_cast<size_t>(ASN1_STRING_length(cn)))
                        : "";
  bool fits = text.size() == kSubjectPrefix.size() + 2 && text.compare(0, kSubjectPrefix.size(), kSubjectPrefix) == 0 &&
              std::isxdigit(static_cast<unsigned char>(text[text.size() - 2])) &&
              std::isxdigit(static_cast<unsigned char>(text[text.size() - 1]));
  if (!fits)
    fail(HSMPROV_R_INVALID_ARGUMENT, "YubiKey attestation: the subject '" + subject_of(x509) +
                                         "' is not CN=YubiKey PIV Attestation <slot>");
  std::string code = text.substr(kSubjectPrefix.size());
  for (char& c : code) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return code;
}

void policies(const X509* x509, Facts& facts) {
  std::optional<Bytes> value = sized_value(x509, kPolicy, 2);
  if (!value) return;  // older firmware
  facts.pin_policy = named((*value)[0], {"never", "once", "always"});
  facts.touch_policy = named((*value)[1], {"never", "always", "cached"});
}

// One byte: the edition flags in the two high bits (0x80 FIPS, 0x40 CSPN),
// the form factor in the bits below them.
void form_factor(const X509* x509, Facts& facts) {
  std::optional<Bytes> value = sized_value(x509, kFormFactor, 1);
  if (!value) return;  // older firmware
  unsigned char byte = (*value)[0];
  facts.form_factor = named(byte & 0x3f, {"USB-A keychain", "USB-A nano", "USB-C keychain", "USB-C nano",
                                          "USB-C Lightning", "USB-A Bio", "USB-C Bio"});
  facts.fips = byte & 0x80 ? "true" : "false";
  facts.cspn = byte & 0x40 ? "true" : "false";
}

// Only the extension's presence is asked: its strict decoding is facts_of()'s.
bool carries(const X509* x509, const Extension& extension) {
  Asn1ObjectPtr object(OBJ_txt2obj(extension.oid, 1));
  return X509_get_ext_by_OBJ(x509, object.get(), -1) >= 0;
}

attest::RuleResult generated_in_device() {
  return {"generated-in-device", true,
          "generated on the YubiKey: a YubiKey attests only keys generated on it (an imported key cannot be "
          "attested)"};
}

attest::RuleResult pin_policy_rule(const Facts& facts) {
  static const std::vector<std::pair<std::string, std::string>> meanings = {
      {"never", "the key is used without the PIN"},
      {"once", "the PIN is asked once per session"},
      {"always", "the PIN is asked before every use of the key"}};
  std::string detail = "PIN policy not given (older firmware)";
  if (!facts.pin_policy.empty()) detail = "PIN policy " + facts.pin_policy;
  for (const auto& [policy, meaning] : meanings)
    if (policy == facts.pin_policy) detail += ": " + meaning;
  return {"pin-policy", true, detail};  // reported for the CA to judge, not a requirement of its own
}

std::string model_of(const Facts& facts) {
  std::string model = "YubiKey";
  if (!facts.form_factor.empty()) model += " " + facts.form_factor;
  if (facts.fips == "true") model += " FIPS";
  if (facts.cspn == "true") model += " CSPN";
  return model;
}

std::vector<Fact> yubikey_facts(const Facts& facts) {
  return {{"slot", "slot", facts.slot, false},
          {"serial", "serial", facts.serial, false},
          {"firmware", "firmware", facts.firmware, false},
          {"pin_policy", "PIN policy", facts.pin_policy, false},
          {"touch_policy", "touch policy", facts.touch_policy, false},
          {"form_factor", "form factor", facts.form_factor, false},
          {"fips", "FIPS edition", facts.fips, true},
          {"cspn", "CSPN edition", facts.cspn, true}};
}


}  // namespace

bool is_attestation(const X509* x509) { return carries(x509, kFirmware); }

Facts facts_of(const X509* attestation) {
  Facts facts;
  facts.slot = slot(attestation);
  facts.firmware = firmware(attestation);
  facts.serial = serial(attestation);
  policies(attestation, facts);
  form_factor(attestation, facts);
  return facts;
}

Report check(X509* attestation, const std::vector<X509*>& others, const Checks& checks) {
  Report report{"yubikey-piv", "Yubico", "yubikey"};
  std::optional<Facts> facts;
  try {
    facts = facts_of(attestation);
    if (X509_get0_pubkey(attestation) == nullptr)  // what it attests is its key: one OpenSSL cannot read attests nothing
      fail(HSMPROV_R_INVALID_ARGUMENT, "YubiKey attestation: the attested public key cannot be read");
  } catch (const Error& e) {
    report.reasons.push_back(e.what());
  }
  if (report.reasons.empty()) {
    report.device = {model_of(*facts), facts->serial, facts->firmware};
    report.facts = yubikey_facts(*facts);
    std::vector<X509*> candidates = others;
    candidates.insert(candidates.end(), checks.intermediates.begin(), checks.intermediates.end());
    report.chain = chain_of(attestation, candidates);
    check_attested_key(report, attestation, others, checks, {generated_in_device(), pin_policy_rule(*facts)});
  }
  conclude(report);
  return report;
}

}  // namespace hsmprov::attest::yubikey
