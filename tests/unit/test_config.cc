// Unit tests: provider config parsing and validation.
#include <cstdlib>
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
using hsmprov::ModuleChoice;

namespace {

const ModuleChoice kProxy{"/proxy.so", "the default, p11-kit's proxy"};

// The message of the Error that parsing `values` throws, or "" if none.
std::string refusal(const ConfigValues& values, const ModuleChoice& default_module = kProxy) {
  try {
    hsmprov::parse_config(values, default_module);
  } catch (const hsmprov::Error& e) {
    assert_int_equal(e.reason(), HSMPROV_R_CONFIG);
    return e.what();
  }
  return "";
}

void defaults_use_the_proxy_module(void**) {
  Config config = hsmprov::parse_config({}, kProxy);
  assert_string_equal(config.module_path.c_str(), "/proxy.so");
  assert_string_equal(config.module_origin.c_str(), "the default, p11-kit's proxy");
  assert_true(config.init_args.empty());
  assert_true(config.pin.empty());
  assert_true(config.pin_file.empty());
  assert_true(config.cache_keys);
}

void known_keys_are_read(void**) {
  Config config = hsmprov::parse_config({{"pkcs11-module-path", "/usr/lib/softhsm/libsofthsm2.so"},
                                         {"pkcs11-module-init-args", "configdir='sql:/tmp/nss'"},
                                         {"pkcs11-module-token-pin", "file:/etc/pin"},
                                         {"pkcs11-module-cache-keys", "false"},
                                         {"module", "hsmprov.so"},
                                         {"activate", "1"}},
                                        kProxy);
  assert_string_equal(config.module_path.c_str(), "/usr/lib/softhsm/libsofthsm2.so");
  assert_string_equal(config.init_args.c_str(), "configdir='sql:/tmp/nss'");
  assert_string_equal(config.pin_file.c_str(), "/etc/pin");
  assert_true(config.pin.empty());
  assert_false(config.cache_keys);
}

/* The PIN: in its locked page from parse_config on; text that held it wiped. */

std::string text_of(const hsmprov::Pin& pin) {
  return std::string(reinterpret_cast<const char*>(pin.data()), pin.size());
}

void a_literal_pin_goes_into_its_page(void**) {
  Config config = hsmprov::parse_config({{"pkcs11-module-token-pin", "4711-secret"}}, kProxy);
  assert_string_equal(text_of(config.pin).c_str(), "4711-secret");
  assert_true(config.pin_file.empty());
  // A copy is a second page; the config keeps its own.
  hsmprov::Pin copy = config.pin.copy();
  assert_true(copy.data() != config.pin.data());
  assert_string_equal(text_of(copy).c_str(), "4711-secret");
  // Moving the config moves the page, without copying the PIN.
  const unsigned char* page = config.pin.data();
  Config moved = std::move(config);
  assert_true(moved.pin.data() == page);
  assert_true(config.pin.empty());
}

void a_pin_file_keeps_only_its_path(void**) {
  Config config = hsmprov::parse_config({{"pkcs11-module-token-pin", "file:/etc/hsmprov/token.pin"}}, kProxy);
  assert_string_equal(config.pin_file.c_str(), "/etc/hsmprov/token.pin");
  assert_true(config.pin.empty());
  // "file:" alone names no file; a PIN that merely contains "file:" is a PIN.
  assert_true(refusal({{"pkcs11-module-token-pin", "file:"}}).find("is empty") != std::string::npos);
  Config literal = hsmprov::parse_config({{"pkcs11-module-token-pin", "12file:34"}}, kProxy);
  assert_string_equal(text_of(literal.pin).c_str(), "12file:34");
}

// All of the buffer is overwritten, past the end of the text too.
void wipe_clears_the_whole_buffer(void**) {
  std::string text(40, 'x');
  text.resize(10);  // 30 more bytes of the old text past the end
  const char* buffer = text.data();
  size_t capacity = text.capacity();
  hsmprov::wipe(text);
  assert_true(text.empty());
  assert_true(text.data() == buffer);
  for (size_t i = 0; i < capacity; ++i) assert_int_equal(buffer[i], 0);
  std::string small = "1234";  // inside the string object (small-string buffer)
  const char* inside = small.data();
  hsmprov::wipe(small);
  for (size_t i = 0; i < 4; ++i) assert_int_equal(inside[i], 0);
}

// A value set again is wiped first: a shorter one leaves nothing of the
// longer one behind in the buffer they share.
void config_values_wipe_what_they_replace(void**) {
  ConfigValues values;
  values.set("pkcs11-module-token-pin", "a-rather-long-pin-of-forty-characters-xx");
  values.set("pkcs11-module-token-pin", "short");
  const std::string& value = values.begin()->second;
  assert_string_equal(value.c_str(), "short");
  for (size_t i = value.size(); i < value.capacity(); ++i) assert_int_equal(value.data()[i], 0);
  Config config = hsmprov::parse_config(values, kProxy);
  assert_string_equal(text_of(config.pin).c_str(), "short");
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
  Config config = hsmprov::parse_config({{"pkcs11-module-cache-keys", "OFF"}}, kProxy);
  assert_false(config.cache_keys);
}

void no_module_at_all_is_refused(void**) {
  assert_true(refusal({}, {"", "the default, p11-kit's proxy"}).find("pkcs11-module-path") != std::string::npos);
}

// A section without a module takes what programs that set PKCS11_MODULE_PATH
// (osslsigncode, libp11) or PKCS11_PROVIDER_MODULE (pkcs11-provider) mean.
void the_environment_names_the_module_a_section_does_not(void**) {
  unsetenv("PKCS11_PROVIDER_MODULE");
  unsetenv("PKCS11_MODULE_PATH");
  ModuleChoice choice = hsmprov::module_when_unnamed("/proxy.so");
  assert_string_equal(choice.path.c_str(), "/proxy.so");
  setenv("PKCS11_MODULE_PATH", "/libp11.so", 1);
  choice = hsmprov::module_when_unnamed("/proxy.so");
  assert_string_equal(choice.path.c_str(), "/libp11.so");
  assert_string_equal(choice.origin.c_str(), "PKCS11_MODULE_PATH");
  setenv("PKCS11_PROVIDER_MODULE", "/provider.so", 1);
  choice = hsmprov::module_when_unnamed("/proxy.so");
  assert_string_equal(choice.path.c_str(), "/provider.so");
  assert_string_equal(choice.origin.c_str(), "PKCS11_PROVIDER_MODULE");
  setenv("PKCS11_PROVIDER_MODULE", "", 1);  // empty: unset
  assert_string_equal(hsmprov::module_when_unnamed("/proxy.so").path.c_str(), "/libp11.so");
  Config config = hsmprov::parse_config({{"pkcs11-module-path", "/softhsm.so"}}, hsmprov::module_when_unnamed("/p.so"));
  assert_string_equal(config.module_path.c_str(), "/softhsm.so");  // the config's own wins
  assert_string_equal(config.module_origin.c_str(), "pkcs11-module-path");
  unsetenv("PKCS11_PROVIDER_MODULE");
  unsetenv("PKCS11_MODULE_PATH");
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

// The system-wide setup docs/configuration.md gives: one .include line at the end of
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

/* The section parsed: the core's values, and the file's other keys only when
   the file is the one OpenSSL loaded. */

void unknown_keys_of_the_loaded_file_are_refused(void**) {
  ConfigValues from_file{{"pkcs11-module-path", "/a.so"},
                         {"pkcs11-module-token-pin", "file:/pin"},
                         {"activate", "1"},
                         {"pkcs11-module-tokn-pin", "1234"}};
  ConfigValues section{{"pkcs11-module-path", "/a.so"}, {"pkcs11-module-token-pin", "file:/pin"}};
  assert_true(hsmprov::add_unknown_keys(section, from_file));
  assert_string_equal(refusal(section).c_str(),
                      "unknown config key 'pkcs11-module-tokn-pin' (its value not shown: it may be a PIN)");
}

// An unknown key's error shows its value, unless it may be the PIN under a
// mistyped key: one that speaks of a PIN, or a few edits from the PIN's key.
void unknown_key_shows_its_value_unless_it_may_be_the_pin(void**) {
  assert_string_equal(refusal(ConfigValues{{"pkcs11-modul-path", "/x.so"}}).c_str(),
                      "unknown config key 'pkcs11-modul-path' (value '/x.so')");
  for (const char* key : {"pkcs11-module-token-pn", "pkcs11-module-tokenpin", "pkcs11-modul-token-PIN", "user-pin"})
    assert_string_equal(refusal(ConfigValues{{key, "1234"}}).c_str(),
                        ("unknown config key '" + std::string(key) + "' (its value not shown: it may be a PIN)").c_str());
}

void another_files_section_adds_nothing(void**) {
  // An application loaded its own config into a library context: the
  // default file's section (with a typo and a PIN of its own) is not it.
  ConfigValues from_file{{"pkcs11-module-path", "/a.so"},
                         {"pkcs11-module-token-pin", "1234"},
                         {"pkcs11-module-tokn-pin", "1234"}};
  ConfigValues section{{"pkcs11-module-path", "/b.so"}};
  assert_false(hsmprov::add_unknown_keys(section, from_file));
  assert_string_equal(refusal(section).c_str(), "");
  Config config = hsmprov::parse_config(section, kProxy);
  assert_string_equal(config.module_path.c_str(), "/b.so");
  assert_true(config.pin.empty());
  assert_null(section.find("pkcs11-module-token-pin"));
}

void a_value_only_the_file_has_is_not_taken(void**) {
  ConfigValues from_file{{"pkcs11-module-path", "/a.so"}, {"pkcs11-module-token-pin", "1234"}};
  ConfigValues section{{"pkcs11-module-path", "/a.so"}};
  assert_false(hsmprov::add_unknown_keys(section, from_file));
  assert_null(section.find("pkcs11-module-token-pin"));
  assert_string_equal(section.find("pkcs11-module-path")->c_str(), "/a.so");
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
      cmocka_unit_test(the_environment_names_the_module_a_section_does_not),
      cmocka_unit_test(a_literal_pin_goes_into_its_page), cmocka_unit_test(a_pin_file_keeps_only_its_path),
      cmocka_unit_test(wipe_clears_the_whole_buffer),     cmocka_unit_test(config_values_wipe_what_they_replace),
      cmocka_unit_test(unknown_keys_of_the_loaded_file_are_refused),
      cmocka_unit_test(unknown_key_shows_its_value_unless_it_may_be_the_pin),
      cmocka_unit_test(another_files_section_adds_nothing),
      cmocka_unit_test(a_value_only_the_file_has_is_not_taken),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
