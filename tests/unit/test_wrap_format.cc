// Unit tests: wrap algorithm names and the output layouts (base64url, the
// Azure .byok JSON) on fixed inputs.
#include <string>

#include "wrap/byok_format.h"
#include "wrap/wrap_algorithm.h"

// cmocka last: it defines a fail() macro that would shadow hsmprov::fail.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
extern "C" {
#include <cmocka.h>
}

using hsmprov::Bytes;

namespace {

void aws_names(void**) {
  auto oaep256 = hsmprov::wrap_algorithm("RSAES_OAEP_SHA_256");
  assert_true(oaep256.has_value());
  assert_false(oaep256->rsa_aes);
  assert_int_equal(oaep256->hash, CKM_SHA256);
  assert_int_equal(oaep256->mgf, CKG_MGF1_SHA256);
  auto rsa_aes1 = hsmprov::wrap_algorithm("RSA_AES_KEY_WRAP_SHA_1");
  assert_true(rsa_aes1->rsa_aes);
  assert_int_equal(rsa_aes1->hash, CKM_SHA_1);
  auto legacy = hsmprov::wrap_algorithm("RSAES_PKCS1_V1_5");
  assert_false(legacy->oaep);
}

void google_names(void**) {
  auto a = hsmprov::wrap_algorithm("RSA_OAEP_4096_SHA256_AES_256");
  assert_true(a->rsa_aes);
  assert_int_equal(a->required_bits, 4096);
  assert_int_equal(a->hash, CKM_SHA256);
  auto b = hsmprov::wrap_algorithm("RSA_OAEP_3072_SHA1");
  assert_false(b->rsa_aes);
  assert_int_equal(b->required_bits, 3072);
  assert_int_equal(b->hash, CKM_SHA_1);
}

void unknown_names(void**) {
  for (const char* name : {"", "RSA_AES_KEY_WRAP_SHA_512", "rsaes_oaep_sha_1", "RSA_OAEP_1024_SHA1", "AES"})
    assert_false(hsmprov::wrap_algorithm(name).has_value());
}

void base64url_vectors(void**) {  // RFC 4648 section 10, in the URL alphabet without padding
  assert_string_equal(hsmprov::base64url(Bytes{'f', 'o', 'o', 'b'}).c_str(), "Zm9vYg");
  assert_string_equal(hsmprov::base64url(Bytes{'f', 'o', 'o', 'b', 'a', 'r'}).c_str(), "Zm9vYmFy");
  assert_string_equal(hsmprov::base64url(Bytes{0xfb, 0xff, 0xbf}).c_str(), "-_-_");
  assert_string_equal(hsmprov::base64url(Bytes{}).c_str(), "");
}

void azure_byok_layout(void**) {
  std::string json = hsmprov::azure_byok("https://v.vault.azure.net/keys/KEK/1\"x", Bytes{0xfb, 0xff, 0xbf});
  std::string expected = "{\"schema_version\":\"1.0.0\",\"header\":{\"kid\":\"https://v.vault.azure.net/keys/KEK/1\\\"x\","
                         "\"alg\":\"dir\",\"enc\":\"CKM_RSA_AES_KEY_WRAP\"},\"ciphertext\":\"-_-_\",\"generator\":"
                         "\"hsmprov " HSMPROV_VERSION "\"}\n";
  assert_string_equal(json.c_str(), expected.c_str());
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(aws_names),        cmocka_unit_test(google_names),      cmocka_unit_test(unknown_names),
      cmocka_unit_test(base64url_vectors), cmocka_unit_test(azure_byok_layout),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
