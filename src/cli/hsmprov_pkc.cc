// hsmprov-pkc: verify key attestations offline (Luna PKC files, YubiKey PIV
// attestations, Marvell attestations), in one process for many files, fetch a key's PKC from a
// Luna, and check hsmprov's section of OpenSSL's config. Usage below (kVerifyUsage, kGetUsage,
// kCheckConfigUsage) and in hsmprov-pkc(1).
// Exit status: 0 all valid (or written), 1 an attestation or the CSR match is
// invalid (or the token has no PKC for the key), 2 an input cannot be read
// (or is no attestation hsmprov-pkc knows), the usage is wrong, or the token
// cannot be reached.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "attest/evidence.h"
#include "config.h"
#include "keys/core.h"
#include "error.h"
#include "file_bytes.h"
#include "json_text.h"

namespace {

using hsmprov::Bytes;
using hsmprov::read_file;
using hsmprov::json_string;
using namespace hsmprov::attest;

constexpr int kValid = 0, kInvalid = 1, kUnreadable = 2;
// The JSON verdict's schema: name and version (README, "JSON verdicts").
constexpr const char* kJsonSchema = "hsmprov-attestation-verdict/2";

constexpr const char* kVerifyUsage =
    "usage: hsmprov-pkc verify [--csr REQ.csr] [--roots FILE] [--intermediate FILE]... [--chain FILE]...\n"
    "                          [--at YYYY-MM-DDTHH:MM:SSZ|now] [--policy code-signing] [--json] ATTESTATION...\n"
    "  Checks each attestation, told apart by its content: a Luna PKC (DER or PEM PKCS#7), a YubiKey PIV\n"
    "  attestation (PEM or DER certificates: the attestation, and the device's f9 certificate if given with it),\n"
    "  or a Marvell attestation (Google Cloud HSM; gzip or raw, with its certificate chains given by --chain).\n"
    "  It checks the structure, the signatures, the chain to the trust anchors (default: the installed Luna,\n"
    "  Yubico and Marvell roots; each certificate of --roots is trusted as its name and public key) through the\n"
    "  intermediates in the file and the PEM certificates of --intermediate and --chain (the same option), the\n"
    "  dates at --at, that the CSR's key is the attested key, and the policy's key rules.\n"
    "  Exit status: 0 all valid, 1 one is invalid, 2 an input cannot be read or is no attestation hsmprov-pkc\n"
    "  knows, or the usage is wrong.\n";
constexpr const char* kGetUsage =
    "usage: hsmprov-pkc get --key 'pkcs11:...;type=private' [--format cits|ecc] -o FILE\n"
    "  Writes the key's PKC as its Luna gives it (cits for RSA keys, ecc for EC keys by default), through the\n"
    "  module and PIN of hsmprov's section in OpenSSL's config (OPENSSL_CONF).\n"
    "  Exit status: 0 written, 1 the token has no PKC for the key, 2 the usage is wrong or the token cannot be\n"
    "  reached.\n";

constexpr const char* kCheckConfigUsage =
    "usage: hsmprov-pkc check-config [--provider NAME]\n"
    "  Checks hsmprov's section of OpenSSL's config (OPENSSL_CONF, else OpenSSL's own file) as the provider\n"
    "  does on its first use, and says what it cannot follow; NAME is the provider's name in the file's\n"
    "  providers section (default hsmprov). Exit status: 0 the section can be followed, 1 it cannot.\n";

struct Options {
  std::string csr;
  std::string roots;
  std::vector<std::string> intermediates;
  std::string policy;
  std::optional<time_t> at;
  bool json = false;
  std::vector<std::string> files;
};

int usage(const std::string& problem, const char* text = nullptr) {
  std::cerr << "hsmprov-pkc: " << problem << "\n";
  if (text != nullptr) std::cerr << text;
  else std::cerr << kVerifyUsage << kGetUsage << kCheckConfigUsage;
  return kUnreadable;
}

int help(const char* text) {
  std::cout << text;
  return kValid;
}

std::optional<time_t> parse_time(const std::string& text) {
  if (text == "now") return std::time(nullptr);
  struct tm tm {};
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return timegm(&tm);
}

// An installed roots file (luna-roots.pem, yubico-piv-roots.pem,
// marvell-roots.pem); a build run from its tree (not a package) falls back
// to the checkout's.
std::string default_roots(const char* name) {
  std::string path = std::string(HSMPROV_ROOTS_INSTALLED) + "/" + name;
#ifdef HSMPROV_ROOTS_SOURCE
  if (!std::ifstream(path)) path = std::string(HSMPROV_ROOTS_SOURCE) + "/" + name;
#endif
  return path;
}

// "RSA 2048" or "EC 256": the JSON's "key" since its first version.
std::string key_type_and_bits(const KeyFacts& key) { return key.type + " " + std::to_string(key.bits); }

std::string or_not_given(const std::string& value) { return value.empty() ? "(not given)" : value; }

std::string evidence_name(const Report& report) {
  if (report.evidence == "luna-pkc") return "Luna PKC (Thales)";
  if (report.evidence == "yubikey-piv") return "YubiKey PIV attestation (Yubico)";
  return "Marvell LiquidSecurity attestation (Marvell)";
}

// "slot 9a, serial 28557046, ...": the vendor's facts on one line.
std::string facts_line(const std::vector<Fact>& facts) {
  std::string line;
  for (const Fact& fact : facts) {
    std::string value = fact.boolean && !fact.value.empty() ? (fact.value == "true" ? "yes" : "no") : fact.value;
    line += (line.empty() ? "" : ", ") + fact.label + " " + or_not_given(value);
  }
  return line;
}

void print_human(const std::string& file, const Report& report) {
  std::cout << file << ": " << (report.valid ? "VALID" : "INVALID") << "\n";
  for (const std::string& reason : report.reasons) std::cout << "  reason:    " << reason << "\n";
  std::cout << "  evidence:  " << evidence_name(report) << "\n";
  if (!report.parsed) return;
  const KeyFacts& key = report.key;
  std::cout << "  device:    model " << or_not_given(report.device.model) << ", serial "
            << or_not_given(report.device.serial) << ", firmware " << or_not_given(report.device.firmware) << "\n"
            << "  facts:     " << facts_line(report.facts) << "\n"
            << "  key:       " << key_type_and_bits(key) << " bits" << (key.curve.empty() ? "" : " (" + key.curve + ")")
            << "\n"
            << "  key SHA-256 (SubjectPublicKeyInfo): " << report.key_sha256 << "\n"
            << "  chain:\n";
  for (const ChainEntry& c : report.chain) {
    std::cout << "    " << c.subject << "\n      valid " << c.validity
              << (c.signature_reencoded ? "; ECDSA signature re-encoded as DER (same r, s; TBS unchanged)" : "")
              << "\n";
  }
  std::cout << "  dates:     " << (report.dates_checked ? "checked" : "not checked (give --at TIME)") << "\n";
  if (report.csr_checked)
    std::cout << "  CSR:       " << (report.csr_matches ? "matches the attested key" : "no match") << "\n";
  if (report.policy) {
    std::cout << "  policy:    " << report.policy->name << ": " << (report.policy->passed ? "passed" : "FAILED") << "\n";
    for (const RuleResult& rule : report.policy->rules)
      std::cout << "    " << (rule.passed ? "ok   " : "FAIL ") << rule.rule << ": " << rule.detail << "\n";
  }
}

std::string json_bool(bool value) { return value ? "true" : "false"; }

std::string json_policy(const PolicyResult& policy) {
  std::string out = "{\"name\":" + json_string(policy.name) + ",\"passed\":" + json_bool(policy.passed) + ",\"rules\":[";
  for (size_t i = 0; i < policy.rules.size(); ++i) {
    const RuleResult& rule = policy.rules[i];
    out += (i ? "," : "") + std::string("{\"rule\":") + json_string(rule.rule) + ",\"passed\":" + json_bool(rule.passed) +
           ",\"detail\":" + json_string(rule.detail) + "}";
  }
  return out + "]}";
}

// The facts as JSON members (",\"slot\":\"9a\"..."): a boolean not given is null.
std::string json_facts(const std::vector<Fact>& facts) {
  std::string out;
  for (const Fact& fact : facts) {
    std::string value = !fact.boolean ? json_string(fact.value) : fact.value.empty() ? "null" : fact.value;
    out += "," + json_string(fact.name) + ":" + value;
  }
  return out;
}

std::string json_chain(const std::vector<ChainEntry>& chain) {
  std::string out = "[";
  for (size_t i = 0; i < chain.size(); ++i) {
    const ChainEntry& c = chain[i];
    out += (i ? "," : "") + std::string("{\"subject\":") + json_string(c.subject) +
           ",\"validity\":" + json_string(c.validity) + ",\"signature_reencoded\":" + json_bool(c.signature_reencoded) +
           "}";
  }
  return out + "]";
}

// What the structure tells: the device, the key, the chain, the vendor
// section. A Luna verdict repeats its section at the top level, where the
// first version of the schema had those fields.
std::string json_parsed(const Report& report) {
  std::ostringstream out;
  const KeyFacts& key = report.key;
  out << ",\"device\":{\"model\":" << json_string(report.device.model)
      << ",\"serial\":" << json_string(report.device.serial)
      << ",\"firmware\":" << json_string(report.device.firmware) << "}"
      << ",\"key\":" << json_string(key_type_and_bits(key)) << ",\"key_type\":" << json_string(key.type)
      << ",\"key_bits\":" << key.bits << ",\"key_curve\":" << json_string(key.curve)
      << ",\"key_sha256\":" << json_string(report.key_sha256)
      << ",\"dates_checked\":" << json_bool(report.dates_checked) << ",\"chain\":" << json_chain(report.chain)
      << "," << json_string(report.section) << ":{" << json_facts(report.facts).erase(0, 1) << "}";
  if (report.section == "luna") out << json_facts(report.facts);
  return out.str();
}

// One file's verdict; the fields are documented in the README ("JSON
// verdicts"). A change that removes or changes a field raises kJsonSchema.
std::string json_report(const std::string& file, const Report& report) {
  std::ostringstream out;
  out << "{\"schema\":" << json_string(kJsonSchema) << ",\"file\":" << json_string(file)
      << ",\"evidence\":" << json_string(report.evidence) << ",\"vendor\":" << json_string(report.vendor)
      << ",\"valid\":" << json_bool(report.valid) << ",\"verdict\":" << json_string(report.valid ? "VALID" : "INVALID");
  if (!report.valid) out << ",\"reason\":" << json_string(report.reason);
  out << ",\"reasons\":[";
  for (size_t i = 0; i < report.reasons.size(); ++i) out << (i ? "," : "") << json_string(report.reasons[i]);
  out << "],\"policy\":" << (report.policy ? json_policy(*report.policy) : "null");
  out << ",\"csr_checked\":" << json_bool(report.csr_checked);
  if (report.csr_checked)
    out << ",\"csr_matches\":" << json_bool(report.csr_matches)
        << ",\"csr_key_sha256\":" << json_string(report.csr_key_sha256);
  if (report.parsed) out << json_parsed(report);
  return out.str() + "}";
}

// 0, or the exit status to leave with (after --help: kValid through `help`).
int parse_options(int argc, char** argv, Options& options, bool& helped) {
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      helped = true;
      return help(kVerifyUsage);
    }
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (arg == "--json") {
      options.json = true;
    } else if (arg == "--csr" || arg == "--roots" || arg == "--intermediate" || arg == "--chain" || arg == "--at" ||
               arg == "--policy") {
      const char* v = value();
      if (v == nullptr) return usage(arg + " needs a value", kVerifyUsage);
      if (arg == "--csr") options.csr = v;
      if (arg == "--roots") options.roots = v;
      if (arg == "--intermediate" || arg == "--chain") options.intermediates.push_back(v);
      if (arg == "--at" && !(options.at = parse_time(v)))
        return usage("--at takes YYYY-MM-DDTHH:MM:SSZ or now", kVerifyUsage);
      if (arg == "--policy") options.policy = v;
    } else if (arg.rfind("-", 0) == 0 && arg != "-") {
      return usage("unknown option " + arg, kVerifyUsage);
    } else {
      options.files.push_back(arg);
    }
  }
  const auto& policies = policy_names();
  if (!options.policy.empty() && std::find(policies.begin(), policies.end(), options.policy) == policies.end())
    return usage("unknown policy '" + options.policy + "' (known: code-signing)", kVerifyUsage);
  if (options.files.empty()) return usage("no attestation file given", kVerifyUsage);
  return kValid;
}

// The file's bytes, or nullopt after saying why it cannot be read.
std::optional<hsmprov::Bytes> read_input(const std::string& file) {
  try {
    if (auto bytes = read_file(file)) return bytes;
    std::cerr << "hsmprov-pkc: cannot read '" << file << "'\n";
  } catch (const hsmprov::Error& e) {  // a directory, a device, a file too long to be an attestation
    std::cerr << "hsmprov-pkc: " << e.what() << "\n";
  }
  return std::nullopt;
}

// The file's verdict, or nullopt after saying why it is no attestation to judge.
std::optional<Report> verify_file(const std::string& file, const Anchors& anchors, const Checks& checks) {
  auto input = read_input(file);
  if (!input) return std::nullopt;
  try {
    return verify_evidence(*input, anchors, checks);
  } catch (const hsmprov::Error& e) {
    std::cerr << "hsmprov-pkc: " << file << ": " << e.what() << "\n";
  }
  return std::nullopt;
}

// What every file is checked with: the trust anchors, the intermediates, the CSR.
struct Inputs {
  std::vector<X509StorePtr> stores;  // each vendor's, or the one of --roots
  Anchors anchors;
  std::vector<X509Ptr> intermediates;
  X509ReqPtr csr;
};

// Throws hsmprov::Error for an input that cannot be read.
Inputs read_inputs(const Options& options) {
  Inputs inputs;
  if (options.roots.empty()) {
    for (const char* name : {"luna-roots.pem", "yubico-piv-roots.pem", "marvell-roots.pem"})
      inputs.stores.push_back(load_roots({default_roots(name)}));
    inputs.anchors = {inputs.stores[0].get(), inputs.stores[1].get(), inputs.stores[2].get()};
  } else {
    inputs.stores.push_back(load_roots({options.roots}));
    X509_STORE* all = inputs.stores[0].get();
    inputs.anchors = {all, all, all};
  }
  for (const std::string& file : options.intermediates) {
    auto bytes = read_file(file);
    std::vector<X509Ptr> certificates = bytes ? read_certificates(*bytes) : std::vector<X509Ptr>{};
    if (certificates.empty()) hsmprov::fail(HSMPROV_R_NOT_FOUND, "no certificate in the intermediates '" + file + "'");
    for (X509Ptr& c : certificates) inputs.intermediates.push_back(std::move(c));
  }
  if (!options.csr.empty()) {
    auto bytes = read_file(options.csr);
    if (!bytes) hsmprov::fail(HSMPROV_R_NOT_FOUND, "cannot read the CSR '" + options.csr + "'");
    inputs.csr = load_csr(*bytes);
  }
  return inputs;
}

int verify_command(int argc, char** argv) {
  Options options;
  bool helped = false;
  int status = parse_options(argc, argv, options, helped);
  if (helped || status != kValid) return status;
  Inputs inputs;
  try {
    inputs = read_inputs(options);
  } catch (const hsmprov::Error& e) {
    return usage(e.what());
  }
  Checks checks{nullptr, {}, options.at, inputs.csr.get(), options.policy};  // roots: the vendor's (verify_file)
  for (const X509Ptr& c : inputs.intermediates) checks.intermediates.push_back(c.get());
  std::string json = "[";
  for (const std::string& file : options.files) {
    std::optional<Report> report = verify_file(file, inputs.anchors, checks);
    if (!report) {
      status = kUnreadable;
      continue;
    }
    if (!report->valid && status == kValid) status = kInvalid;
    if (options.json) {
      json += (json.size() > 1 ? "," : "") + json_report(file, *report);
    } else {
      print_human(file, *report);
    }
  }
  if (options.json) std::cout << json << "]\n";
  return status;
}

// The formats `verify` reads. A Luna also keeps a TC-Trust form
// (CKA_PKC_TCTRUST); no sample of it was available to write rules for, so
// `get` does not write what `verify` could not check.
CK_ATTRIBUTE_TYPE pkc_attribute(const std::string& format) {
  if (format == "cits") return CKA_PKC_CITS;
  if (format == "ecc") return CKA_PKC_ECC;
  return 0;
}

// The one private key the URI names, through the module and PIN of the
// provider's section in OpenSSL's config file.
std::shared_ptr<hsmprov::Key> private_key(hsmprov::Core& core, const std::string& uri) {
  std::shared_ptr<hsmprov::Key> key;
  for (const hsmprov::Found& item : core.find(hsmprov::Uri::parse(uri), nullptr)) {
    if (item.object_class != CKO_PRIVATE_KEY) continue;
    if (key) hsmprov::fail(HSMPROV_R_AMBIGUOUS, "the URI matches more than one private key");
    key = item.key;
  }
  if (!key) hsmprov::fail(HSMPROV_R_NOT_FOUND, "the URI matches no private key");
  return key;
}

int get_command(int argc, char** argv) {
  std::string uri, format, out;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") return help(kGetUsage);
    if (arg != "--key" && arg != "--format" && arg != "-o") return usage("unknown option " + arg, kGetUsage);
    if (i + 1 >= argc) return usage(arg + " needs a value", kGetUsage);
    if (arg == "--key") uri = argv[++i];
    else if (arg == "--format") format = argv[++i];
    else out = argv[++i];
  }
  if (uri.empty() || out.empty()) return usage("get needs --key and -o", kGetUsage);
  if (format == "tctrust")
    return usage("the TC-Trust format is not one hsmprov-pkc verify reads; --format cits gives the same key's "
                 "attestation in the Chrysalis-ITS format, which hsmprov-pkc verify and Thales' validator read",
                 kGetUsage);
  if (!format.empty() && pkc_attribute(format) == 0) return usage("--format is cits or ecc", kGetUsage);
  try {
    hsmprov::Core core(hsmprov::config_from_file(HSMPROV_NAME, HSMPROV_DEFAULT_MODULE));
    auto key = private_key(core, uri);
    if (format.empty()) format = key->type() == hsmprov::KeyType::rsa ? "cits" : "ecc";
    auto pkc = key->token_attribute(pkc_attribute(format));
    if (!pkc) {
      std::cerr << "hsmprov-pkc: " << key->where() << " has no PKC in format " << format
                << ": a Luna gives one only for keys generated in it as never-extractable (an imported or "
                   "extractable key has none), and cits only for RSA keys, ecc for EC keys\n";
      return kInvalid;
    }
    std::ofstream file(out, std::ios::binary);
    file.write(reinterpret_cast<const char*>(pkc->data()), static_cast<std::streamsize>(pkc->size()));
    if (!file.flush()) return usage("cannot write '" + out + "'");
    std::cout << "wrote the " << format << " PKC of " << key->where() << " to " << out << " (" << pkc->size()
              << " bytes)\n";
    return kValid;
  } catch (const hsmprov::Error& e) {
    std::cerr << "hsmprov-pkc: " << e.what() << "\n";
    return kUnreadable;
  }
}

// The provider reads its section on first use, so that one it cannot follow
// costs programs that never use it nothing: this says, on demand, what that
// first use would.
int check_config_command(int argc, char** argv) {
  std::string provider = HSMPROV_NAME;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") return help(kCheckConfigUsage);
    if (arg != "--provider" || i + 1 >= argc) return usage("unknown option " + arg, kCheckConfigUsage);
    provider = argv[++i];
  }
  try {
    hsmprov::Config config = hsmprov::config_from_file(provider, HSMPROV_DEFAULT_MODULE);
    std::cout << "hsmprov's config (provider '" << provider << "' in " << hsmprov::default_config_file()
              << "): can be followed; PKCS#11 module " << config.module_path << " (named by "
              << config.module_origin << ")\n";
    return kValid;
  } catch (const hsmprov::Error& e) {
    std::cerr << "hsmprov-pkc: " << e.what() << "\n";
    return kInvalid;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string command = argc >= 2 ? argv[1] : "";
  if (command == "verify") return verify_command(argc, argv);
  if (command == "get") return get_command(argc, argv);
  if (command == "check-config") return check_config_command(argc, argv);
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << "hsmprov-pkc: verify key attestations offline (Thales Luna PKC files, YubiKey PIV attestations, Marvell\n"
                 "attestations of Google Cloud HSM);\n"
                 "fetch a key's PKC from a Luna; check hsmprov's config.\n";
    return help((std::string(kVerifyUsage) + kGetUsage + kCheckConfigUsage).c_str());
  }
  if (command == "--version") return help("hsmprov-pkc " HSMPROV_VERSION "\n");
  return usage(command.empty() ? "no command given" : "unknown command " + command);
}
