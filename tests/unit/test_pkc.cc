// Unit tests: PKC structure rules on the real files and on PKCS#7 files
// rebuilt here from their certificates (dropped, reordered).
#include <fstream>
#include <iterator>
#include <string>

#include "attest/luna_pkc.h"
#include "der.h"
#include "error.h"

// cmocka last: it defines a fail() macro that would shadow hsmprov::fail.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
extern "C" {
#include <cmocka.h>
}

using hsmprov::Bytes;
namespace der = hsmprov::der;

namespace {

Bytes read(const std::string& name) {
  std::ifstream in(std::string(HSMPROV_TEST_DATA) + "/luna-pkc/" + name, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A certs-only SignedData around `certificates`, in the order given.
Bytes certs_only(const std::vector<Bytes>& certificates) {
  const Bytes signed_data_oid = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02};
  const Bytes data_oid = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01};
  Bytes all;
  for (const Bytes& c : certificates) all.insert(all.end(), c.begin(), c.end());
  Bytes body = der::write(0x02, {1});
  for (const Bytes& part : {der::write(0x31, {}), der::write(0x30, data_oid), der::write(0xa0, all), der::write(0x31, {})})
    body.insert(body.end(), part.begin(), part.end());
  Bytes content = signed_data_oid;
  Bytes wrapped = der::write(0xa0, der::write(0x30, body));
  content.insert(content.end(), wrapped.begin(), wrapped.end());
  return der::write(0x30, content);
}

std::vector<Bytes> certificates_of(const hsmprov::pkc::Pkc& pkc) {
  std::vector<Bytes> out;
  for (const auto& c : pkc.chain) out.push_back(c.der);
  return out;
}

std::string refusal(const Bytes& input) {
  try {
    hsmprov::pkc::parse(input);
  } catch (const hsmprov::Error& e) {
    return e.what();
  }
  return "";
}

void rsa_file_follows_the_rsa_profile(void**) {
  auto pkc = hsmprov::pkc::parse(read("rsa-pkc.p7b"));
  assert_string_equal(pkc.profile.c_str(), "rsa");
  assert_int_equal(pkc.chain.size(), 5);
  for (size_t i = 0; i < 5; ++i) assert_int_equal(pkc.chain[i].role, hsmprov::pkc::rsa_profile()[i]);
  assert_string_equal(hsmprov::pkc::hsm_serial(pkc).c_str(), "521174");
  assert_string_equal(hsmprov::pkc::firmware_version(pkc).c_str(), "7.8.4");
  assert_string_equal(hsmprov::pkc::hsm_model(pkc).c_str(), "Luna K7");
  assert_string_equal(hsmprov::pkc::key_ouid(pkc).c_str(), "41000000ae000002d6f30700");
}

void ecc_file_gets_only_its_leaf_signature_reencoded(void**) {
  auto pkc = hsmprov::pkc::parse(read("ecc-pkc.p7b"));
  assert_string_equal(pkc.profile.c_str(), "ecc");
  assert_true(pkc.chain[0].signature_reencoded);
  assert_false(pkc.chain[1].signature_reencoded);
  assert_false(pkc.chain[2].signature_reencoded);
}

void file_order_does_not_matter(void**) {
  auto certificates = certificates_of(hsmprov::pkc::parse(read("rsa-pkc.p7b")));
  std::vector<Bytes> shuffled = {certificates[3], certificates[0], certificates[4], certificates[2], certificates[1]};
  auto pkc = hsmprov::pkc::parse(certs_only(shuffled));
  assert_true(pkc.chain[0].der == certificates[0]);
  assert_true(pkc.chain[4].der == certificates[4]);
}

void missing_certificate_breaks_the_chain(void**) {
  auto certificates = certificates_of(hsmprov::pkc::parse(read("rsa-pkc.p7b")));
  certificates.erase(certificates.begin() + 2);
  std::string message = refusal(certs_only(certificates));
  assert_true(message.find("PKC rule 'chain' fails: the chain stops at 'CN=Luna K7-521174") != std::string::npos);
}

void no_leaf_is_refused(void**) {
  auto certificates = certificates_of(hsmprov::pkc::parse(read("rsa-pkc.p7b")));
  certificates.erase(certificates.begin());
  assert_true(refusal(certs_only(certificates)).find("PKC rule 'one-leaf'") != std::string::npos);
}

void truncated_chain_breaks_the_profile(void**) {
  auto certificates = certificates_of(hsmprov::pkc::parse(read("ecc-pkc.p7b")));
  certificates.pop_back();  // no root: the chain stops at the HOC
  assert_true(refusal(certs_only(certificates)).find("PKC rule 'chain'") != std::string::npos);
}

void extra_certificate_is_refused(void**) {
  auto rsa = certificates_of(hsmprov::pkc::parse(read("rsa-pkc.p7b")));
  auto ecc = certificates_of(hsmprov::pkc::parse(read("ecc-pkc.p7b")));
  rsa.push_back(ecc[2]);
  assert_true(refusal(certs_only(rsa)).find("is not in the leaf's chain") != std::string::npos);
}

void garbage_is_refused(void**) {
  assert_true(refusal({}).find("PKC rule 'pkcs7' fails: the file is empty") != std::string::npos);
  Bytes truncated = read("rsa-pkc.p7b");
  truncated.resize(truncated.size() / 2);
  assert_true(refusal(truncated).find("PKC rule 'pkcs7'") != std::string::npos);
  assert_true(refusal(Bytes(100, 0x30)).find("PKC rule 'pkcs7'") != std::string::npos);
  assert_true(refusal(certs_only({})).find("PKC rule 'certs-only'") != std::string::npos);
}

bool looks_like_pkc(const Bytes& der) { return hsmprov::pkc::looks_like_pkc(der.data(), der.size()); }

// What the PKC decoder answers for and what it leaves to others.
void pkc_shape_is_told_from_other_pkcs7(void**) {
  assert_true(looks_like_pkc(read("rsa-pkc.p7b")));
  assert_true(looks_like_pkc(read("ecc-pkc.p7b")));
  Bytes truncated = read("rsa-pkc.p7b");
  truncated.resize(truncated.size() / 2);
  assert_true(looks_like_pkc(truncated));  // still a PKC, a broken one: parse() says why
  const Bytes role_13 = {0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0xe0, 0x5f, 0x01, 0x0d};
  const Bytes serial_arc = {0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0xe0, 0x5f, 0x02, 0x01};  // 12383.2.1
  assert_true(looks_like_pkc(certs_only({der::write(0x30, role_13)})));
  assert_false(looks_like_pkc(certs_only({der::write(0x30, serial_arc)})));
  assert_false(looks_like_pkc(certs_only({})));
  Bytes data_not_signed = certs_only({der::write(0x30, role_13)});
  data_not_signed[12] = 0x01;  // contentType 1.2.840.113549.1.7.1 (data)
  assert_false(looks_like_pkc(data_not_signed));
  assert_false(looks_like_pkc({}));
  assert_false(looks_like_pkc(role_13));
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(rsa_file_follows_the_rsa_profile),
      cmocka_unit_test(ecc_file_gets_only_its_leaf_signature_reencoded),
      cmocka_unit_test(file_order_does_not_matter),
      cmocka_unit_test(missing_certificate_breaks_the_chain),
      cmocka_unit_test(no_leaf_is_refused),
      cmocka_unit_test(truncated_chain_breaks_the_profile),
      cmocka_unit_test(extra_certificate_is_refused),
      cmocka_unit_test(garbage_is_refused),
      cmocka_unit_test(pkc_shape_is_told_from_other_pkcs7),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
