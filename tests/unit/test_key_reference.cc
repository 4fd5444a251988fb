// Unit tests: key reference PEM/DER encoding.
#include <optional>
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


struct MemBio {
  explicit MemBio(std::string content)
      : text(std::move(content)), bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size()))) {}
  ~MemBio() { BIO_free(bio); }
  std::string text;  // the BIO reads it in place
  BIO* bio;
};

const char* const kCertificate =
    "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";

std::optional<std::string> uri_of_next_block(BIO* in) {
  auto der = hsmprov::read_key_reference_block(in);
  return der ? hsmprov::decode_key_reference(*der) : std::nullopt;
}

void round_trip(void**) {
  std::string uri = "pkcs11:token=demo;id=%01;object=k;type=private";
  std::string pem = hsmprov::encode_key_reference(uri);
  assert_true(pem.rfind("-----BEGIN HSMPROV KEY REFERENCE-----", 0) == 0);
  MemBio in(pem);
  auto decoded = uri_of_next_block(in.bio);
  assert_true(decoded.has_value());
  assert_string_equal(decoded->c_str(), uri.c_str());
}

// One block per call, as OpenSSL's own PEM decoder reads: a certificate
// before the reference is passed over (OpenSSL hands it to the next
// decoder), and text around blocks and CRLF line ends are fine.
void certificate_then_reference_with_text_and_crlf(void**) {
  std::string pem = hsmprov::encode_key_reference("pkcs11:token=demo;object=k;type=private");
  std::string crlf;
  for (char c : pem) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  MemBio in(std::string("subject=CN = demo\r\n") + kCertificate + "some text\r\n" + crlf);
  assert_false(hsmprov::read_key_reference_block(in.bio).has_value());  // the certificate
  auto decoded = uri_of_next_block(in.bio);
  assert_true(decoded.has_value());
  assert_string_equal(decoded->c_str(), "pkcs11:token=demo;object=k;type=private");
  assert_false(hsmprov::read_key_reference_block(in.bio).has_value());  // nothing after it
}

// pkcs11-provider's key file: the same shape under its own names. Made with
// `openssl asn1parse -genconf` from SEQUENCE { VisibleString "PKCS#11
// Provider URI v1.0", UTF8String "pkcs11:token=demo;object=k;type=private" },
// the layout pkcs11-provider documents and writes.
void pkcs11_provider_key_file_is_read(void**) {
  MemBio in(
      "-----BEGIN PKCS#11 PROVIDER URI-----\n"
      "MEQaGVBLQ1MjMTEgUHJvdmlkZXIgVVJJIHYxLjAMJ3BrY3MxMTp0b2tlbj1kZW1v\n"
      "O29iamVjdD1rO3R5cGU9cHJpdmF0ZQ==\n"
      "-----END PKCS#11 PROVIDER URI-----\n");
  auto decoded = uri_of_next_block(in.bio);
  assert_true(decoded.has_value());
  assert_string_equal(decoded->c_str(), "pkcs11:token=demo;object=k;type=private");
}

void other_input_is_not_ours(void**) {
  MemBio key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  assert_false(hsmprov::read_key_reference_block(key.bio).has_value());
  MemBio text("no PEM here\n");
  assert_false(hsmprov::read_key_reference_block(text.bio).has_value());
  const Bytes null_der = {0x05, 0x00};
  assert_false(hsmprov::decode_key_reference(null_der).has_value());
  const Bytes other_sequence = {0x30, 0x06, 0x1a, 0x01, 'x', 0x0c, 0x01, 'y'};
  assert_false(hsmprov::decode_key_reference(other_sequence).has_value());
}

void damaged_reference_is_an_error(void**) {
  bool refused = false;
  MemBio in("-----BEGIN HSMPROV KEY REFERENCE-----\n!!!\n");
  try {
    hsmprov::read_key_reference_block(in.bio);
  } catch (const hsmprov::Error& e) {
    refused = e.reason() == HSMPROV_R_INVALID_ARGUMENT &&
              std::string(e.what()) == "the HSMPROV KEY REFERENCE block is damaged (cut short, or not base64)";
  }
  assert_true(refused);
}

void nul_in_the_uri_is_refused(void**) {
  std::string uri("pkcs11:token=demo;object=ec-key\0;object=rsa-key;type=private", 60);
  MemBio in(hsmprov::encode_key_reference(uri));
  std::string said;
  try {
    uri_of_next_block(in.bio);
  } catch (const hsmprov::Error& e) {
    said = e.what();
  }
  assert_string_equal(said.c_str(), "the key reference's URI holds a NUL byte");
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(round_trip),
      cmocka_unit_test(certificate_then_reference_with_text_and_crlf),
      cmocka_unit_test(pkcs11_provider_key_file_is_read),
      cmocka_unit_test(other_input_is_not_ours),
      cmocka_unit_test(damaged_reference_is_an_error),
      cmocka_unit_test(nul_in_the_uri_is_refused),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
