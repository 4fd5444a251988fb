// Config parsing and validation. Values arrive from OpenSSL's core; the file
// is read here only to find keys we do not know, which must not pass silently.
#include "config.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include <openssl/conf.h>
#include <openssl/err.h>

#include "config_scan.h"
#include "error.h"
#include "file_bytes.h"
#include "log.h"

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
// file: NCONF says what is wrong with those. The text may hold the PIN: the
// caller wipes it (read_text_file reads a regular file into a buffer of
// its size, so no copy is left behind by a reallocation).
std::optional<std::string> config_text(const std::string& path) {
  try {
    return read_text_file(path);
  } catch (const Error&) {
    return std::nullopt;
  }
}

// Wipes the values of scanned entries however the scope ends.
struct WipedEntries {
  std::optional<ScannedSection>& entries;
  ~WipedEntries() {
    if (entries)
      for (auto& entry : *entries) wipe(entry.second);
  }
};

// The section from the quick scan, when it can tell and finds no key to
// refuse; else nullopt.
std::optional<ConfigValues> scanned_section(const std::string& path, const std::string& provider_name) {
  std::optional<std::string> text = config_text(path);
  if (!text) return std::nullopt;
  WipeOnExit wipe_text(*text);
  std::optional<ScannedSection> entries = scan_provider_section(*text, provider_name, config_text);
  WipedEntries wipe_entries{entries};
  if (!entries) return std::nullopt;
  ConfigValues values;
  for (const auto& [key, value] : *entries) {
    if (!known(key)) return std::nullopt;  // NCONF decides what is refused
    values.set(key, value);
  }
  return values;
}

// Wipes the values of the section read with NCONF before the CONF is freed.
struct WipedItems {
  STACK_OF(CONF_VALUE)* items = nullptr;
  ~WipedItems() {
    for (int i = 0; items != nullptr && i < sk_CONF_VALUE_num(items); ++i) {
      CONF_VALUE* item = sk_CONF_VALUE_value(items, i);
      if (item->value != nullptr) OPENSSL_cleanse(item->value, std::strlen(item->value));
    }
  }
};

ConfigValues read_section_of(const std::string& provider_name) {
  ConfigValues values;
  std::unique_ptr<char, void (*)(void*)> path(CONF_get1_default_config_file(), [](void* p) { OPENSSL_free(p); });
  if (path == nullptr) return values;
  if (auto scanned = scanned_section(path.get(), provider_name)) return std::move(*scanned);
  // NCONF copies the file through buffers of its own that it frees without
  // wiping them; what can be wiped here is the section's values.
  std::unique_ptr<CONF, decltype(&NCONF_free)> conf(NCONF_new(nullptr), &NCONF_free);
  if (conf == nullptr || NCONF_load(conf.get(), path.get(), nullptr) <= 0) return values;
  const char* init = NCONF_get_string(conf.get(), nullptr, "openssl_conf");
  const char* providers = init ? NCONF_get_string(conf.get(), init, "providers") : nullptr;
  const char* section = providers ? NCONF_get_string(conf.get(), providers, provider_name.c_str()) : nullptr;
  WipedItems items{section ? NCONF_get_section(conf.get(), section) : nullptr};
  for (int i = 0; items.items != nullptr && i < sk_CONF_VALUE_num(items.items); ++i) {
    CONF_VALUE* item = sk_CONF_VALUE_value(items.items, i);
    values.set(item->name, item->value);
  }
  return values;
}

}  // namespace

ConfigValues::ConfigValues(std::initializer_list<Map::value_type> values) : values_(values) {}

ConfigValues::~ConfigValues() {
  for (auto& entry : values_) wipe(entry.second);
}

const std::string* ConfigValues::find(const std::string& key) const {
  auto it = values_.find(key);
  return it == values_.end() ? nullptr : &it->second;
}

void ConfigValues::set(const std::string& key, std::string_view value) {
  std::string& slot = values_[key];
  wipe(slot);  // a longer value makes assign() reallocate: nothing is left in the old buffer
  slot.assign(value.data(), value.size());
}

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

namespace {

// Edits (insertions, deletions, substitutions) from a to b.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The value of an unknown key, for its error; not one that may be the PIN
// under a mistyped key (a key that speaks of a PIN, or is a few edits from
// pkcs11-module-token-pin).
std::string shown_value(const std::string& key, const std::string& value) {
  std::string lower;
  for (char c : key) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.find("pin") != std::string::npos || edit_distance(lower, "pkcs11-module-token-pin") <= 4)
    return "its value not shown: it may be a PIN";
  return "value '" + value + "'";
}

}  // namespace

ModuleChoice module_when_unnamed(const std::string& built_in) {
  for (const char* variable : {"PKCS11_PROVIDER_MODULE", "PKCS11_MODULE_PATH"}) {
    const char* path = secure_getenv(variable);
    if (path != nullptr && *path != '\0') return {path, variable};
  }
  return {built_in, "the default, p11-kit's proxy"};
}

Config parse_config(const ConfigValues& values, const ModuleChoice& unnamed) {
  Config config;
  config.module_path = unnamed.path;
  config.module_origin = unnamed.origin;
  for (const auto& [key, value] : values) {
    if (is_openssl_key(key)) continue;
    if (key == "pkcs11-module-path") {
      if (value.empty()) fail(HSMPROV_R_CONFIG, "config key 'pkcs11-module-path' is empty");
      config.module_path = value;
      config.module_origin = "pkcs11-module-path";
    } else if (key == "pkcs11-module-init-args") {
      config.init_args = value;
    } else if (key == "pkcs11-module-token-pin") {
      if (value.empty() || value == "file:")
        fail(HSMPROV_R_CONFIG, "config key 'pkcs11-module-token-pin' is empty");
      // The path only, for "file:PATH" (read at login); else the PIN goes
      // from the value (wiped with `values`) straight into its locked page.
      if (value.rfind("file:", 0) == 0)
        config.pin_file = value.substr(5);
      else
        config.pin = Pin(value.data(), value.size());
    } else if (key == "pkcs11-module-cache-keys") {
      config.cache_keys = parse_bool(key, value);
    } else if (key == "pkcs11-module-load-behavior") {
      if (value != "early" && value != "lazy")
        fail(HSMPROV_R_CONFIG, "config key '" + key + "': '" + value + "' is not early or lazy");
      config.load_early = value == "early";
    } else {
      fail(HSMPROV_R_CONFIG, "unknown config key '" + key + "' (" + shown_value(key, value) + ")");
    }
  }
  if (config.module_path.empty())
    fail(HSMPROV_R_CONFIG, "config key 'pkcs11-module-path' is not set, nor PKCS11_PROVIDER_MODULE or "
                           "PKCS11_MODULE_PATH, and no p11-kit proxy module is installed");
  return config;
}

ConfigValues read_provider_section(const std::string& provider_name) {
  // Missing files and keys are normal here: keep them off the error queue.
  ERR_set_mark();
  ConfigValues values = read_section_of(provider_name);
  ERR_pop_to_mark();
  return values;
}

bool add_unknown_keys(ConfigValues& from_core, const ConfigValues& from_file) {
  for (const char* const* key = config_keys(); *key != nullptr; ++key) {
    const std::string* core = from_core.find(*key);
    const std::string* file = from_file.find(*key);
    if ((core == nullptr) != (file == nullptr) || (core != nullptr && *core != *file)) {
      log::write(1, std::string("config: the section OpenSSL loaded differs from the one in the default config file "
                                "(at '") + *key + "'): its unknown keys cannot be looked for");
      return false;
    }
  }
  for (const auto& [key, value] : from_file)
    if (!known(key)) from_core.set(key, value);
  return true;
}

std::string default_config_file() {
  std::unique_ptr<char, void (*)(void*)> path(CONF_get1_default_config_file(), [](void* p) { OPENSSL_free(p); });
  return path ? path.get() : "";
}

namespace {

std::string section_where(const std::string& provider_name) {
  return "hsmprov's config (provider '" + provider_name + "' in " + default_config_file() + ")";
}

// parse_config, its errors saying where the section is.
Config parsed(const ConfigValues& values, const std::string& where, const std::string& built_in) {
  try {
    return parse_config(values, module_when_unnamed(built_in));
  } catch (const Error& e) {
    fail(e.reason(), where + ": " + e.what());
  }
}

}  // namespace

Config config_from(ConfigValues from_core, const std::string& provider_name, const std::string& built_in) {
  if (add_unknown_keys(from_core, read_provider_section(provider_name)))
    return parsed(from_core, section_where(provider_name), built_in);
  return parsed(from_core, "hsmprov's config (the section OpenSSL gave provider '" + provider_name + "')", built_in);
}

Config config_from_file(const std::string& provider_name, const std::string& built_in) {
  return parsed(read_provider_section(provider_name), section_where(provider_name), built_in);
}

}  // namespace hsmprov
