// Provider configuration: the keys of the provider's openssl.cnf section.
// Keys shared with latchset/pkcs11-provider mean the same thing here, so a
// config ports by changing its `module` line.
#pragma once

#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "pin.h"

namespace hsmprov {

// Move-only, as the PIN in it is: one config, one locked page.
struct Config {
  std::string module_path;   // pkcs11-module-path
  std::string module_origin; // what named it, for errors and the debug log
  std::string init_args;     // pkcs11-module-init-args (pReserved of C_Initialize)
  // pkcs11-module-token-pin: the PIN itself (in its locked page), or the
  // file to read it from at login ("file:PATH"); at most one is set.
  Pin pin;
  std::string pin_file;
  bool cache_keys = true;    // pkcs11-module-cache-keys: sign with a session copy
  bool load_early = false;   // pkcs11-module-load-behavior = early: load the module with the provider
};

// The keys and values of the provider's section, as read. A value may be
// the PIN (pkcs11-module-token-pin), so every value is wiped when the map
// goes and when set() replaces it; there is no copy and no other way to
// change a value.
class ConfigValues {
 public:
  using Map = std::map<std::string, std::string>;
  ConfigValues() = default;
  ConfigValues(std::initializer_list<Map::value_type> values);
  ConfigValues(ConfigValues&& other) noexcept = default;
  ConfigValues& operator=(ConfigValues&&) = delete;
  ConfigValues(const ConfigValues&) = delete;
  ConfigValues& operator=(const ConfigValues&) = delete;
  ~ConfigValues();

  void set(const std::string& key, std::string_view value);
  // The value of `key`; nullptr when it is not set.
  const std::string* find(const std::string& key) const;
  Map::const_iterator begin() const { return values_.begin(); }
  Map::const_iterator end() const { return values_.end(); }
  bool empty() const { return values_.empty(); }

 private:
  Map values_;
};

// A boolean as OpenSSL's config spells one: yes/no, true/false, on/off,
// 1/0, in any case; nullopt for anything else.
std::optional<bool> boolean_value(const std::string& text);

// The module of a section that names none, and what named it.
struct ModuleChoice {
  std::string path;
  std::string origin;
};

// PKCS11_PROVIDER_MODULE (pkcs11-provider's), else PKCS11_MODULE_PATH
// (libp11's, and what osslsigncode sets from its -pkcs11module), else
// `built_in` (p11-kit's proxy). Read as OpenSSL reads its own environment:
// never in a setuid or setgid program (secure_getenv). Empty means unset.
ModuleChoice module_when_unnamed(const std::string& built_in);

// The keys this provider reads; OpenSSL's own section keys are not among them.
const char* const* config_keys();

// Validates every key and value; an unknown key or bad value throws an Error
// that names the key and its value (not a value that may be a PIN).
// `unnamed` is the module when the section names none. A literal PIN goes
// straight from its value into Config::pin.
Config parse_config(const ConfigValues& values, const ModuleChoice& unnamed);

// The config file OpenSSL loads by default: OPENSSL_CONF, else its own.
std::string default_config_file();

// The config of the provider named `provider_name`, from the values
// OpenSSL's core gave it plus the other keys of its section in the default
// file (add_unknown_keys): what a provider that is used checks. Errors say
// where the section is: the file, or the section OpenSSL gave when it is
// not the default file's. `built_in` is p11-kit's proxy (see
// module_when_unnamed).
Config config_from(ConfigValues from_core, const std::string& provider_name, const std::string& built_in);
// The same from the default file alone, for a program that is no provider
// (hsmprov-pkc, and its check-config).
Config config_from_file(const std::string& provider_name, const std::string& built_in);

// All keys of the section that the config file OpenSSL loads by default
// (OPENSSL_CONF) gives to the provider named `provider_name`; empty when the
// provider is not configured there. The file's text, and every value read
// on the way, is wiped before it is freed (OpenSSL's NCONF, used for files
// the quick scan cannot read, keeps internal copies of its own that are not).
ConfigValues read_provider_section(const std::string& provider_name);

// Adds to the values OpenSSL's core gave (`from_core`, the keys hsmprov
// reads) every other key of the section read from the file (`from_file`),
// so that parse_config refuses it; true when it did. The file's section
// counts only when it is the one OpenSSL loaded, that is when each key
// hsmprov reads has the same value in both: an application may load
// another file into a library context of its own, which hsmprov cannot
// know, and then no value of the default file may slip in (false, nothing
// added).
bool add_unknown_keys(ConfigValues& from_core, const ConfigValues& from_file);

}  // namespace hsmprov
