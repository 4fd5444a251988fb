// Config parsing and validation. Values arrive from OpenSSL's core; the file
// is read here only to find keys we do not know, which must not pass silently.
#include "config.h"

#include <cctype>
#include <memory>

#include <openssl/conf.h>
#include <openssl/err.h>

#include "config_scan.h"
#include "error.h"
#include "file_bytes.h"

namespace hsmprov {
namespace {

// Keys OpenSSL itself consumes in a provider section.
bool is_openssl_key(const std::string& key) {
  return key == "module" || key == "activate" || key == "identity" || key == "soft_load";
}

bool parse_bool(const std::string& key, const std::string& value) {
  if (auto parsed = boolean_value(value)) return *parsed;
  fail(HSMPROV_R_CONFIG, "config key '" + key + "': '" + value + "' is not yes or no (true/false, on/off, 1/0)");
}

bool known(const std::string& key) {
  if (is_openssl_key(key)) return true;
  for (const char* const* k = config_keys(); *k != nullptr; ++k)
    if (key == *k) return true;
  return false;
}

// A config file's text, or nullopt for a directory, a huge or unreadable
// file: NCONF says what is wrong with those.
std::optional<std::string> config_text(const std::string& path) {
  try {
    return read_text_file(path);
  } catch (const Error&) {
    return std::nullopt;
  }
}

// The section from the quick scan, when it can tell and finds no key to
// refuse; else nullopt.
std::optional<ConfigValues> scanned_section(const std::string& path, const std::string& provider_name) {
  std::optional<std::string> text = config_text(path);
  if (!text) return std::nullopt;
  auto entries = scan_provider_section(*text, provider_name, config_text);
  if (!entries) return std::nullopt;
  ConfigValues values;
  for (const auto& [key, value] : *entries) {
    if (!known(key)) return std::nullopt;  // NCONF decides what is refused
    values[key] = value;
  }
  return values;
}

ConfigValues read_section_of(const std::string& provider_name) {
  ConfigValues values;
  std::unique_ptr<char, void (*)(void*)> path(CONF_get1_default_config_file(), [](void* p) { OPENSSL_free(p); });
  if (path == nullptr) return values;
  if (auto scanned = scanned_section(path.get(), provider_name)) return *scanned;
  std::unique_ptr<CONF, decltype(&NCONF_free)> conf(NCONF_new(nullptr), &NCONF_free);
  if (conf == nullptr || NCONF_load(conf.get(), path.get(), nullptr) <= 0) return values;
  const char* init = NCONF_get_string(conf.get(), nullptr, "openssl_conf");
  const char* providers = init ? NCONF_get_string(conf.get(), init, "providers") : nullptr;
  const char* section = providers ? NCONF_get_string(conf.get(), providers, provider_name.c_str()) : nullptr;
  STACK_OF(CONF_VALUE)* items = section ? NCONF_get_section(conf.get(), section) : nullptr;
  for (int i = 0; items != nullptr && i < sk_CONF_VALUE_num(items); ++i) {
    CONF_VALUE* item = sk_CONF_VALUE_value(items, i);
    values[item->name] = item->value;
  }
  return values;
}

}  // namespace

std::optional<bool> boolean_value(const std::string& text) {
  std::string lower;
  for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "yes" || lower == "true" || lower == "on" || lower == "1") return true;
  if (lower == "no" || lower == "false" || lower == "off" || lower == "0") return false;
  return std::nullopt;
}

const char* const* config_keys() {
  static const char* const keys[] = {"pkcs11-module-path", "pkcs11-module-init-args",
                                     "pkcs11-module-token-pin", "pkcs11-module-cache-keys",
                                     "pkcs11-module-load-behavior", nullptr};
  return keys;
}

Config parse_config(const ConfigValues& values, const std::string& default_module) {
  Config config;
  config.module_path = default_module;
  for (const auto& [key, value] : values) {
    if (is_openssl_key(key)) continue;
    if (key == "pkcs11-module-path") {
      if (value.empty()) fail(HSMPROV_R_CONFIG, "config key 'pkcs11-module-path' is empty");
      config.module_path = value;
    } else if (key == "pkcs11-module-init-args") {
      config.init_args = value;
    } else if (key == "pkcs11-module-token-pin") {
      if (value.empty() || value == "file:")
        fail(HSMPROV_R_CONFIG, "config key 'pkcs11-module-token-pin' is empty");
      config.pin_spec = value;
    } else if (key == "pkcs11-module-cache-keys") {
      config.cache_keys = parse_bool(key, value);
    } else if (key == "pkcs11-module-load-behavior") {
      if (value != "early" && value != "lazy")
        fail(HSMPROV_R_CONFIG, "config key '" + key + "': '" + value + "' is not early or lazy");
      config.load_early = value == "early";
    } else {
      fail(HSMPROV_R_CONFIG, "unknown config key '" + key + "'");
    }
  }
  if (config.module_path.empty())
    fail(HSMPROV_R_CONFIG, "config key 'pkcs11-module-path' is not set and no p11-kit proxy module is installed");
  return config;
}

ConfigValues read_provider_section(const std::string& provider_name) {
  // Missing files and keys are normal here: keep them off the error queue.
  ERR_set_mark();
  ConfigValues values = read_section_of(provider_name);
  ERR_pop_to_mark();
  return values;
}
}  // namespace hsmprov
