// Provider configuration: the keys of the provider's openssl.cnf section.
// Keys shared with latchset/pkcs11-provider mean the same thing here, so a
// config ports by changing its `module` line.
#pragma once

#include <map>
#include <optional>
#include <string>

namespace hsmprov {

struct Config {
  std::string module_path;   // pkcs11-module-path
  std::string init_args;     // pkcs11-module-init-args (pReserved of C_Initialize)
  std::string pin_spec;      // pkcs11-module-token-pin: "file:PATH" or literal
  bool cache_keys = true;    // pkcs11-module-cache-keys: sign with a session copy
  bool load_early = false;   // pkcs11-module-load-behavior = early: load the module with the provider
};

using ConfigValues = std::map<std::string, std::string>;

// A boolean as OpenSSL's config spells one: yes/no, true/false, on/off,
// 1/0, in any case; nullopt for anything else.
std::optional<bool> boolean_value(const std::string& text);

// The keys this provider reads; OpenSSL's own section keys are not among them.
const char* const* config_keys();

// Validates every key and value; an unknown key or bad value throws an Error
// that names the key. `default_module` is used when no path is given.
Config parse_config(const ConfigValues& values, const std::string& default_module);

// All keys of the section that the config file OpenSSL loads by default
// (OPENSSL_CONF) gives to the provider named `provider_name`; empty when the
// provider is not configured there.
ConfigValues read_provider_section(const std::string& provider_name);

}  // namespace hsmprov
