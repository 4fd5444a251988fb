// Unit tests: Yubico's attestation extensions decoded from the real samples,
// and refused when a length is wrong; certificate files read for evidence.
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "attest/evidence.h"
#include "attest/yubikey.h"
#include "error.h"

// cmocka last: it defines a fail() macro that would shadow hsmprov::fail.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
extern "C" {
#include <cmocka.h>
}

using hsmprov::Bytes;
using hsmprov::attest::X509Ptr;
namespace yubikey = hsmprov::attest::yubikey;

namespace {

Bytes read(const std::string& name) {
  std::ifstream in(std::string(HSMPROV_TEST_DATA) + "/attestation/yubikey-piv/" + name, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

X509Ptr certificate(const std::string& name) {
  auto certificates = hsmprov::attest::read_certificates(read(name));
  assert_int_equal(certificates.size(), 1);
  return std::move(certificates.front());
}

std::string refusal(const X509* x509) {
  try {
    yubikey::facts_of(x509);
  } catch (const hsmprov::Error& e) {
    return e.what();
  }
  return "";
}

// The 9a sample with Yubico's extension `oid` replaced by one holding `value`.
X509Ptr with_extension(const char* oid, const Bytes& value) {
  X509Ptr x509 = certificate("attestation-9a.crt");
  hsmprov::Asn1ObjectPtr object(OBJ_txt2obj(oid, 1));
  X509_EXTENSION_free(X509_delete_ext(x509.get(), X509_get_ext_by_OBJ(x509.get(), object.get(), -1)));
  ASN1_OCTET_STRING* octets = ASN1_OCTET_STRING_new();
  assert_true(ASN1_OCTET_STRING_set(octets, value.data(), static_cast<int>(value.size())));
  X509_EXTENSION* extension = X509_EXTENSION_create_by_OBJ(nullptr, object.get(), 0, octets);
  assert_true(X509_add_ext(x509.get(), extension, -1));
  X509_EXTENSION_free(extension);
  ASN1_OCTET_STRING_free(octets);
  return x509;
}

void slot_9a_facts(void**) {
  yubikey::Facts facts = yubikey::facts_of(certificate("attestation-9a.crt").get());
  assert_string_equal(facts.slot.c_str(), "9a");
  assert_string_equal(facts.firmware.c_str(), "5.4.3");
  assert_string_equal(facts.serial.c_str(), "28557046");  // 02 04 01 b3 be f6
  assert_string_equal(facts.pin_policy.c_str(), "once");
  assert_string_equal(facts.touch_policy.c_str(), "never");
  assert_string_equal(facts.form_factor.c_str(), "USB-A keychain");
  assert_string_equal(facts.fips.c_str(), "true");
  assert_string_equal(facts.cspn.c_str(), "false");
}

void slot_9c_facts(void**) {
  yubikey::Facts facts = yubikey::facts_of(certificate("attestation-9c.crt").get());
  assert_string_equal(facts.slot.c_str(), "9c");
  assert_string_equal(facts.pin_policy.c_str(), "always");
}

void only_yubico_certificates_carry_the_extension(void**) {
  assert_true(yubikey::is_attestation(certificate("attestation-9a.crt").get()));
  assert_true(yubikey::is_attestation(certificate("attestation-intermediate.crt").get()));  // the f9 certificate
  assert_false(yubikey::is_attestation(certificate("ipxe-sb-cs-g1a.crt").get()));
  assert_false(yubikey::is_attestation(certificate("attestation-root.crt").get()));
}

void wrong_lengths_name_the_extension(void**) {
  assert_string_equal(refusal(with_extension("1.3.6.1.4.1.41482.3.8", {2, 1, 1}).get()).c_str(),
                      "YubiKey attestation: extension 1.3.6.1.4.1.41482.3.8 (PIN and touch policy) has 3 bytes; "
                      "Yubico's has 2");
  assert_string_equal(refusal(with_extension("1.3.6.1.4.1.41482.3.3", {5, 4, 3, 0}).get()).c_str(),
                      "YubiKey attestation: extension 1.3.6.1.4.1.41482.3.3 (firmware version) has 4 bytes; "
                      "Yubico's has 3");
  assert_string_equal(refusal(with_extension("1.3.6.1.4.1.41482.3.9", {}).get()).c_str(),
                      "YubiKey attestation: extension 1.3.6.1.4.1.41482.3.9 (form factor) has 0 bytes; "
                      "Yubico's has 1");
  std::string serial = refusal(with_extension("1.3.6.1.4.1.41482.3.7", {0x02, 0x01, 0xff}).get());  // -1
  assert_string_equal(serial.c_str(), "YubiKey attestation: extension 1.3.6.1.4.1.41482.3.7 (serial number) is "
                                      "not one DER INTEGER of a non-negative number below 2^64");
}

void unknown_codes_are_named_unknown(void**) {
  yubikey::Facts facts = yubikey::facts_of(with_extension("1.3.6.1.4.1.41482.3.9", {0x47}).get());
  assert_string_equal(facts.form_factor.c_str(), "USB-C Bio");
  assert_string_equal(facts.cspn.c_str(), "true");
  assert_string_equal(facts.fips.c_str(), "false");
  facts = yubikey::facts_of(with_extension("1.3.6.1.4.1.41482.3.8", {0x09, 0x03}).get());
  assert_string_equal(facts.pin_policy.c_str(), "unknown (0x09)");
  assert_string_equal(facts.touch_policy.c_str(), "cached");
}

void the_device_certificate_is_no_attestation(void**) {
  assert_string_equal(refusal(certificate("attestation-intermediate.crt").get()).c_str(),
                      "YubiKey attestation: the subject 'CN=Yubico PIV Attestation' is not "
                      "CN=YubiKey PIV Attestation <slot>");
}

void certificate_files(void**) {
  Bytes both = read("attestation-9a.crt");
  Bytes f9 = read("attestation-intermediate.crt");
  both.insert(both.end(), f9.begin(), f9.end());
  assert_int_equal(hsmprov::attest::read_certificates(both).size(), 2);
  const std::string text = "some text, no PEM block\n";
  assert_int_equal(hsmprov::attest::read_certificates(Bytes(text.begin(), text.end())).size(), 0);
  Bytes cut(both.begin(), both.begin() + 400);
  try {
    hsmprov::attest::read_certificates(cut);
    assert_true(false);
  } catch (const hsmprov::Error& e) {
    assert_non_null(std::strstr(e.what(), "the CERTIFICATE block is damaged"));
  }
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(slot_9a_facts),
      cmocka_unit_test(slot_9c_facts),
      cmocka_unit_test(only_yubico_certificates_carry_the_extension),
      cmocka_unit_test(wrong_lengths_name_the_extension),
      cmocka_unit_test(unknown_codes_are_named_unknown),
      cmocka_unit_test(the_device_certificate_is_no_attestation),
      cmocka_unit_test(certificate_files),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
