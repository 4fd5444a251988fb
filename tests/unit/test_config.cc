// Unit tests: provider config parsing and validation.
#include <map>
#include <optional>
#include <string>

#include "config.h"
#include "config_scan.h"
#include "error.h"

// cmocka last: it defines a fail() macro that would shadow hsmprov::fail.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
extern "C" {
#include <cmocka.h>
}

using hsmprov::Config;
using hsmprov::ConfigValues;

namespace {

// The message of the Error that parsing `values` throws, or "" if none.
std::string refusal(const ConfigValues& values, const std::string& default_module = "/proxy.so") {
  try {
    hsmprov::parse_config(values, default_module);
  } catch (const hsmprov::Error& e) {
    assert_int_equal(e.reason(), HSMPROV_R_CONFIG);
    return e.what();
  }
  return "";
}

void defaults_use_the_proxy_module(void**) {
  Config config = hsmprov::parse_config({}, "/proxy.so");
  assert_string_equal(config.module_path.c_str(), "/proxy.so");
  assert_true(config.init_args.empty());
  assert_true(config.pin_spec.empty());
  assert_true(config.cache_keys);
}

void known_keys_are_read(void**) {
  Config config = hsmprov::parse_config({{"pkcs11-module-path", "/usr/lib/softhsm/libsofthsm2.so"},
                                         {"pkcs11-module-init-args", "configdir='sql:/tmp/nss'"},
                                         {"pkcs11-module-token-pin", "file:/etc/pin"},
                                         {"pkcs11-module-cache-keys", "false"},
                                         {"module", "hsmprov.so"},
                                         {"activate", "1"}},
                                        "/proxy.so");
  assert_string_equal(config.module_path.c_str(), "/usr/lib/softhsm/libsofthsm2.so");
  assert_string_equal(config.init_args.c_str(), "configdir='sql:/tmp/nss'");
  assert_string_equal(config.pin_spec.c_str(), "file:/etc/pin");
  assert_false(config.cache_keys);
}

void unknown_key_is_named(void**) {
  std::string message = refusal({{"pkcs11-modul-path", "/x.so"}});
  assert_true(message.find("unknown config key 'pkcs11-modul-path'") != std::string::npos);
}

void bad_values_name_their_key(void**) {
  assert_true(refusal({{"pkcs11-module-cache-keys", "maybe"}}).find("'pkcs11-module-cache-keys'") != std::string::npos);
  assert_true(refusal({{"pkcs11-module-path", ""}}).find("'pkcs11-module-path'") != std::string::npos);
  assert_true(refusal({{"pkcs11-module-token-pin", "file:"}}).find("'pkcs11-module-token-pin'") != std::string::npos);
}

void booleans_as_openssl_spells_them(void**) {
  for (const char* yes : {"yes", "YES", "true", "True", "on", "ON", "1"}) assert_true(*hsmprov::boolean_value(yes));
  for (const char* no : {"no", "No", "false", "FALSE", "off", "Off", "0"}) assert_false(*hsmprov::boolean_value(no));
  for (const char* neither : {"", "y", "2", "yes please", "maybe"}) assert_false(hsmprov::boolean_value(neither).has_value());
  Config config = hsmprov::parse_config({{"pkcs11-module-cache-keys", "OFF"}}, "/proxy.so");
  assert_false(config.cache_keys);
}

void no_module_at_all_is_refused(void**) {
  assert_true(refusal({}, "").find("pkcs11-module-path") != std::string::npos);
}

/* The quick scan of the config file for the keys of our section. */

// Included files, by path, for the scan.
std::map<std::string, std::string> included;

std::string keys_found(const std::string& text) {
  auto read_include = [](const std::string& path) -> std::optional<std::string> {
    auto found = included.find(path);
    return found == included.end() ? std::nullopt : std::optional<std::string>(found->second);
  };
  auto entries = hsmprov::scan_provider_section(text, "hsmprov", read_include);
  if (!entries) return "(read with NCONF)";
  std::string joined;
  for (const auto& [key, value] : *entries) joined += (joined.empty() ? "" : ",") + key;
  return joined;
}

const char* const kPlain =
    "HOME = .\n"
    "openssl_conf = openssl_init\n"
    "[ new_oids ]\n"
    "tsa_policy1 = 1.2.3.4.1\n"
    "[openssl_init]\n"
    "providers = provider_sect   # the providers\n"
    "[provider_sect]\n"
    "default = default_sect\n"
    "hsmprov = hsmprov_sect\n"
    "[ CA_default ]\n"
    "dir = ./demoCA\n"
    "certs = $dir/certs  # variables elsewhere do not matter\n"
    "[hsmprov_sect]\n"
    "# a comment\n"
    "pkcs11-module-path = /usr/lib/softhsm/libsofthsm2.so\n"
    "pkcs11-modul-path = /typo.so\n"
    "activate = 1\n";

void scan_finds_the_keys_of_our_section(void**) {
  assert_string_equal(keys_found(kPlain).c_str(), "pkcs11-module-path,pkcs11-modul-path,activate");
  auto entries = hsmprov::scan_provider_section(kPlain, "hsmprov", nullptr);
  assert_true(entries.has_value());
  assert_string_equal((*entries)[0].second.c_str(), "/usr/lib/softhsm/libsofthsm2.so");
}

void scan_skips_a_byte_order_mark(void**) {
  assert_string_equal(keys_found(std::string("\xEF\xBB\xBF") + kPlain).c_str(),
                      "pkcs11-module-path,pkcs11-modul-path,activate");
}

void scan_merges_a_section_given_twice(void**) {
  std::string text = std::string(kPlain) + "[ hsmprov_sect ]\npkcs11-module-cache-keys = false\n";
  assert_string_equal(keys_found(text).c_str(), "pkcs11-module-path,pkcs11-modul-path,activate,pkcs11-module-cache-keys");
}

void scan_without_our_provider_finds_nothing(void**) {
  assert_string_equal(keys_found("openssl_conf = init\n[init]\nproviders = p\n[p]\ndefault = d\n").c_str(), "");
  assert_string_equal(keys_found("# no config at all\n").c_str(), "");
}

// The system-wide setup the README gives: one .include line at the end of
// a stock openssl.cnf, whose sections merge with the file's own.
void scan_reads_an_included_file(void**) {
  included["/etc/ssl/hsmprov.cnf"] =
      "[openssl_init]\nproviders = provider_sect\n[provider_sect]\nhsmprov = hsmprov_sect\n"
      "[hsmprov_sect]\npkcs11-module-path = /usr/lib/softhsm/libsofthsm2.so\nactivate = 1\n";
  std::string stock = "openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\nssl_conf = ssl_sect\n"
                      "[provider_sect]\ndefault = default_sect\n[default_sect]\n# activate = 1\n";
  assert_string_equal(keys_found(stock + ".include /etc/ssl/hsmprov.cnf\n").c_str(), "pkcs11-module-path,activate");
  assert_string_equal(keys_found(stock + ".include = /etc/ssl/hsmprov.cnf\n").c_str(), "pkcs11-module-path,activate");
}

// Where the plain form ends, NCONF reads the file.
void scan_gives_up_where_the_form_is_not_plain(void**) {
  assert_string_equal(keys_found(std::string(".include /etc/ssl/absent.cnf\n") + kPlain).c_str(), "(read with NCONF)");
  assert_string_equal(keys_found(std::string(".include relative.cnf\n") + kPlain).c_str(), "(read with NCONF)");
  assert_string_equal(keys_found(std::string(".pragma dollarid:true\n") + kPlain).c_str(), "(read with NCONF)");
  assert_string_equal(keys_found("openssl_conf = $init\n").c_str(), "(read with NCONF)");
  std::string continued = std::string(kPlain) + "pkcs11-module-init-args = a \\\n  b = c\n";
  assert_string_equal(keys_found(continued).c_str(), "(read with NCONF)");
  // NCONF joins lines before it strips comments: this comment swallows the next line.
  std::string comment = std::string(kPlain) + "# see C:\\\npkcs11-module-cache-keys = false\n";
  assert_string_equal(keys_found(comment).c_str(), "(read with NCONF)");
  std::string other_section = std::string(kPlain) + "default_sect::activate = 1\n";
  assert_string_equal(keys_found(other_section).c_str(), "(read with NCONF)");
  std::string quoted = std::string(kPlain) + "[provider_sect]\nhsmprov = \"other\"\n";
  assert_string_equal(keys_found(quoted).c_str(), "(read with NCONF)");
  std::string nss = std::string(kPlain) + "pkcs11-module-init-args = configdir='sql:/db' certPrefix=''\n";
  assert_string_equal(keys_found(nss).c_str(), "(read with NCONF)");
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(scan_finds_the_keys_of_our_section),
      cmocka_unit_test(scan_merges_a_section_given_twice),
      cmocka_unit_test(scan_skips_a_byte_order_mark),
      cmocka_unit_test(scan_without_our_provider_finds_nothing),
      cmocka_unit_test(scan_reads_an_included_file),
      cmocka_unit_test(scan_gives_up_where_the_form_is_not_plain),
      cmocka_unit_test(defaults_use_the_proxy_module), cmocka_unit_test(known_keys_are_read),
      cmocka_unit_test(unknown_key_is_named),          cmocka_unit_test(bad_values_name_their_key),
      cmocka_unit_test(no_module_at_all_is_refused), cmocka_unit_test(booleans_as_openssl_spells_them),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
