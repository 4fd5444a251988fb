// hsmprov-pkc: verify Luna key attestations (PKC files) offline, in one
// process for many files, and fetch a key's PKC from a Luna.
//   hsmprov-pkc verify [--csr REQ.csr] [--roots FILE] [--at TIME|now] [--json] PKC...
//   hsmprov-pkc get --key 'pkcs11:...;type=private' [--format cits|tctrust|ecc] -o FILE
// Exit status: 0 all valid (or written), 1 a PKC or the CSR match is invalid
// (or the token has no PKC for the key), 2 an input cannot be read, the
// usage is wrong, or the token cannot be reached.
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "config.h"
#include "keys/core.h"
#include "error.h"
#include "file_bytes.h"
#include "json_text.h"
#include "pkc/verify.h"

namespace {

using hsmprov::Bytes;
using hsmprov::read_file;
using hsmprov::json_string;
using namespace hsmprov::pkc;

constexpr int kValid = 0, kInvalid = 1, kUnreadable = 2;

struct Options {
  std::string csr;
  std::string roots;
  std::optional<time_t> at;
  bool json = false;
  std::vector<std::string> files;
};

int usage(const std::string& problem) {
  std::cerr << "hsmprov-pkc: " << problem << "\n"
            << "usage: hsmprov-pkc verify [--csr REQ.csr] [--roots FILE] [--at YYYY-MM-DDTHH:MM:SSZ|now] [--json] "
               "PKC...\n"
            << "       hsmprov-pkc get --key 'pkcs11:...;type=private' [--format cits|tctrust|ecc] -o FILE\n";
  return kUnreadable;
}

std::optional<time_t> parse_time(const std::string& text) {
  if (text == "now") return std::time(nullptr);
  struct tm tm {};
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return timegm(&tm);
}

// The installed roots; a build run from its tree (not a package) falls
// back to the checkout's.
std::string default_roots() {
#ifdef HSMPROV_ROOTS_SOURCE
  if (!std::ifstream(HSMPROV_ROOTS_INSTALLED)) return HSMPROV_ROOTS_SOURCE;
#endif
  return HSMPROV_ROOTS_INSTALLED;
}

std::string key_description(const Pkc& pkc) {
  EVP_PKEY* key = attested_key(pkc);
  std::string type = EVP_PKEY_is_a(key, "RSA") ? "RSA" : EVP_PKEY_is_a(key, "EC") ? "EC" : "other";
  return type + " " + std::to_string(EVP_PKEY_get_bits(key));
}

void print_human(const std::string& file, const Report& report) {
  std::cout << file << ": " << (report.valid ? "VALID" : "INVALID") << "\n";
  if (!report.valid) std::cout << "  reason:    " << report.reason << "\n";
  if (!report.pkc) return;
  const Pkc& pkc = *report.pkc;
  std::cout << "  profile:   " << (pkc.profile == "rsa" ? "RSA (Chrysalis-ITS)" : "ECC") << ", " << pkc.chain.size()
            << " certificates\n"
            << "  HSM:       serial " << hsm_serial(pkc) << ", firmware "
            << (firmware_version(pkc).empty() ? "(not given)" : firmware_version(pkc)) << ", model "
            << (hsm_model(pkc).empty() ? "(not given)" : hsm_model(pkc)) << "\n"
            << "  key:       " << key_description(pkc) << " bits, OUID " << key_ouid(pkc) << "\n"
            << "  chain:\n";
  for (const Certificate& c : pkc.chain) {
    std::cout << "    " << subject_of(c.x509.get()) << "\n      valid " << validity_of(c.x509.get())
              << (c.signature_reencoded ? "; ECDSA signature re-encoded as DER (same r, s; TBS unchanged)" : "")
              << "\n";
  }
  std::cout << "  dates:     " << (report.dates_checked ? "checked" : "not checked (give --at TIME)") << "\n";
  if (report.csr_checked) std::cout << "  CSR:       " << (report.valid ? "matches the attested key" : "no match") << "\n";
}

std::string json_report(const std::string& file, const Report& report) {
  std::ostringstream out;
  out << "{\"file\":" << json_string(file) << ",\"valid\":" << (report.valid ? "true" : "false");
  if (!report.valid) out << ",\"reason\":" << json_string(report.reason);
  if (report.pkc) {
    const Pkc& pkc = *report.pkc;
    out << ",\"profile\":" << json_string(pkc.profile) << ",\"hsm_serial\":" << json_string(hsm_serial(pkc))
        << ",\"firmware\":" << json_string(firmware_version(pkc)) << ",\"model\":" << json_string(hsm_model(pkc))
        << ",\"key\":" << json_string(key_description(pkc)) << ",\"ouid\":" << json_string(key_ouid(pkc))
        << ",\"dates_checked\":" << (report.dates_checked ? "true" : "false")
        << ",\"csr_checked\":" << (report.csr_checked ? "true" : "false") << ",\"chain\":[";
    for (size_t i = 0; i < pkc.chain.size(); ++i) {
      const Certificate& c = pkc.chain[i];
      out << (i ? "," : "") << "{\"subject\":" << json_string(subject_of(c.x509.get()))
          << ",\"validity\":" << json_string(validity_of(c.x509.get()))
          << ",\"signature_reencoded\":" << (c.signature_reencoded ? "true" : "false") << "}";
    }
    out << "]";
  }
  return out.str() + "}";
}

int parse_options(int argc, char** argv, Options& options) {
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (arg == "--json") {
      options.json = true;
    } else if (arg == "--csr" || arg == "--roots" || arg == "--at") {
      const char* v = value();
      if (v == nullptr) return usage(arg + " needs a value");
      if (arg == "--csr") options.csr = v;
      if (arg == "--roots") options.roots = v;
      if (arg == "--at" && !(options.at = parse_time(v))) return usage("--at takes YYYY-MM-DDTHH:MM:SSZ or now");
    } else if (arg.rfind("--", 0) == 0) {
      return usage("unknown option " + arg);
    } else {
      options.files.push_back(arg);
    }
  }
  if (options.files.empty()) return usage("no PKC file given");
  return kValid;
}

// The file's bytes, or nullopt after saying why it cannot be read.
std::optional<hsmprov::Bytes> read_input(const std::string& file) {
  try {
    if (auto bytes = read_file(file)) return bytes;
    std::cerr << "hsmprov-pkc: cannot read '" << file << "'\n";
  } catch (const hsmprov::Error& e) {  // a directory, a device, a file too long to be a PKC
    std::cerr << "hsmprov-pkc: " << e.what() << "\n";
  }
  return std::nullopt;
}

int verify_command(int argc, char** argv) {
  Options options;
  if (int status = parse_options(argc, argv, options)) return status;
  X509StorePtr roots;
  X509ReqPtr csr;
  try {
    roots = load_roots(options.roots.empty() ? default_roots() : options.roots);
    if (!options.csr.empty()) {
      auto bytes = read_file(options.csr);
      if (!bytes) return usage("cannot read the CSR '" + options.csr + "'");
      csr = load_csr(*bytes);
    }
  } catch (const hsmprov::Error& e) {
    return usage(e.what());
  }
  int status = kValid;
  std::string json = "[";
  for (const std::string& file : options.files) {
    auto input = read_input(file);
    if (!input) {
      status = kUnreadable;
      continue;
    }
    Report report = check(*input, roots.get(), options.at, csr.get());
    if (!report.valid && status == kValid) status = kInvalid;
    if (options.json) {
      json += (json.size() > 1 ? "," : "") + json_report(file, report);
    } else {
      print_human(file, report);
    }
  }
  if (options.json) std::cout << json << "]\n";
  return status;
}

CK_ATTRIBUTE_TYPE pkc_attribute(const std::string& format) {
  if (format == "cits") return CKA_PKC_CITS;
  if (format == "tctrust") return CKA_PKC_TCTRUST;
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
    if (i + 1 >= argc) return usage(arg + " needs a value");
    if (arg == "--key") uri = argv[++i];
    else if (arg == "--format") format = argv[++i];
    else if (arg == "-o") out = argv[++i];
    else return usage("unknown option " + arg);
  }
  if (uri.empty() || out.empty()) return usage("get needs --key and -o");
  if (!format.empty() && pkc_attribute(format) == 0) return usage("--format is cits, tctrust or ecc");
  try {
    hsmprov::Core core(hsmprov::parse_config(hsmprov::read_provider_section(HSMPROV_NAME), HSMPROV_DEFAULT_MODULE));
    auto key = private_key(core, uri);
    if (format.empty()) format = key->type() == hsmprov::KeyType::rsa ? "cits" : "ecc";
    auto pkc = key->token_attribute(pkc_attribute(format));
    if (!pkc) {
      std::cerr << "hsmprov-pkc: " << key->where() << " has no PKC in format " << format
                << ": a Luna gives one only for keys generated in it as never-extractable (an imported or "
                   "extractable key has none), and the RSA formats (cits, tctrust) only for RSA keys, ecc for EC\n";
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

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "verify") == 0) return verify_command(argc, argv);
  if (argc >= 2 && std::strcmp(argv[1], "get") == 0) return get_command(argc, argv);
  return usage(argc < 2 ? "no command given" : std::string("unknown command ") + argv[1]);
}
