// Unit tests: provider config parsing and validation.
#include <string>

#include "config.h"
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

void no_module_at_all_is_refused(void**) {
  assert_true(refusal({}, "").find("pkcs11-module-path") != std::string::npos);
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(defaults_use_the_proxy_module), cmocka_unit_test(known_keys_are_read),
      cmocka_unit_test(unknown_key_is_named),          cmocka_unit_test(bad_values_name_their_key),
      cmocka_unit_test(no_module_at_all_is_refused),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
