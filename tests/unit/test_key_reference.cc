// Unit tests: key reference PEM/DER encoding.
#include <string>

#include "error.h"
#include "keys/key_reference.h"

// cmocka last: it defines a fail() macro that would shadow hsmprov::fail.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
extern "C" {
#include <cmocka.h>
}

using hsmprov::Bytes;

namespace {

Bytes bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

void round_trip(void**) {
  std::string uri = "pkcs11:token=demo;id=%01;object=k;type=private";
  std::string pem = hsmprov::encode_key_reference(uri);
  assert_true(pem.rfind("-----BEGIN HSMPROV KEY REFERENCE-----", 0) == 0);
  auto der = hsmprov::key_reference_der(bytes(pem));
  assert_true(der.has_value());
  auto decoded = hsmprov::decode_key_reference(*der);
  assert_true(decoded.has_value());
  assert_string_equal(decoded->c_str(), uri.c_str());
}

void other_input_is_not_ours(void**) {
  assert_false(hsmprov::key_reference_der(bytes("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")).has_value());
  const Bytes null_der = {0x05, 0x00};
  assert_false(hsmprov::decode_key_reference(null_der).has_value());
  const Bytes other_sequence = {0x30, 0x06, 0x1a, 0x01, 'x', 0x0c, 0x01, 'y'};
  assert_false(hsmprov::decode_key_reference(other_sequence).has_value());
}

void damaged_reference_is_an_error(void**) {
  bool refused = false;
  try {
    hsmprov::key_reference_der(bytes("-----BEGIN HSMPROV KEY REFERENCE-----\n!!!\n"));
  } catch (const hsmprov::Error& e) {
    refused = e.reason() == HSMPROV_R_INVALID_ARGUMENT;
  }
  assert_true(refused);
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(round_trip),
      cmocka_unit_test(other_input_is_not_ours),
      cmocka_unit_test(damaged_reference_is_an_error),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
