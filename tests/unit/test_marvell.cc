// Unit tests: the Marvell attestation parser on Google's public sample, and
// on damaged copies of it.
#include <fstream>
#include <iterator>
#include <string>

#include <openssl/pem.h>

#include "attest/chain.h"
#include "attest/evidence.h"
#include "attest/marvell.h"
#include "error.h"
#include "pkcs11/p11.h"

// cmocka last: it defines a fail() macro that would shadow hsmprov::fail.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
extern "C" {
#include <cmocka.h>
}

using hsmprov::Bytes;
namespace marvell = hsmprov::attest::marvell;

namespace {

std::string data_path(const std::string& name) {
  return std::string(HSMPROV_TEST_DATA) + "/attestation/marvell/" + name;
}

Bytes read(const std::string& name) {
  std::ifstream in(data_path(name), std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The public keys of chain.pem's certificates, in file order.
std::vector<hsmprov::EvpPkeyPtr> chain_keys() {
  std::vector<hsmprov::EvpPkeyPtr> keys;
  hsmprov::BioPtr in(BIO_new_file(data_path("chain.pem").c_str(), "r"));
  while (X509* cert = PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr)) {
    keys.emplace_back(X509_get_pubkey(cert));
    X509_free(cert);
  }
  return keys;
}

// The error parse() throws, or "" when it parses.
std::string parse_error(const Bytes& input) {
  try {
    marvell::parse(input);
  } catch (const hsmprov::Error& e) {
    return e.what();
  }
  return "";
}

void sample_parses_with_both_objects(void**) {
  Bytes input = read("attestation.dat.gz");
  assert_true(marvell::looks_like_marvell(input));
  marvell::Attestation a = marvell::parse(input);
  assert_int_equal(a.blob.size(), 2112);
  assert_true(marvell::looks_like_marvell(a.blob));  // raw, too
  assert_int_equal(a.public_key.handle, 0x7e6);
  assert_int_equal(a.private_key.handle, 0x22a6);
  assert_int_equal(*a.private_key.number(CKA_KEY_TYPE), CKK_EC);
  assert_false(*a.private_key.flag(CKA_EXTRACTABLE));
  assert_true(*a.private_key.flag(CKA_NEVER_EXTRACTABLE));
  assert_true(*a.private_key.flag(CKA_LOCAL));
  assert_true(*a.private_key.flag(CKA_SENSITIVE));
}

void public_key_is_the_p256_point(void**) {
  marvell::Attestation a = marvell::parse(read("attestation.dat.gz"));
  hsmprov::EvpPkeyPtr key = marvell::public_key(a);
  char group[32] = "";
  assert_true(EVP_PKEY_get_utf8_string_param(key.get(), "group", group, sizeof group, nullptr));
  assert_string_equal(group, "prime256v1");
  unsigned char point[65];
  size_t size = 0;
  assert_true(EVP_PKEY_get_octet_string_param(key.get(), "pub", point, sizeof point, &size));
  const Bytes& raw = *a.public_key.find(CKA_MODULUS);
  assert_int_equal(size, raw.size());
  assert_memory_equal(point, raw.data(), size);
}

void signed_by_the_partition_keys_only(void**) {
  marvell::Attestation a = marvell::parse(read("attestation.dat.gz"));
  auto keys = chain_keys();
  assert_int_equal(keys.size(), 4);
  // chain.pem: partition (manufacturer), card, partition (owner), card.
  assert_true(marvell::signed_by(a, keys[0].get()));
  assert_false(marvell::signed_by(a, keys[1].get()));
  assert_true(marvell::signed_by(a, keys[2].get()));
  a.blob[a.blob.size() - 1] ^= 1;
  assert_false(marvell::signed_by(a, keys[0].get()));
}

void damaged_copies_are_named(void**) {
  Bytes blob = marvell::parse(read("attestation.dat.gz")).blob;
  Bytes truncated(blob.begin(), blob.begin() + 1000);
  assert_non_null(strstr(parse_error(truncated).c_str(), "truncated"));
  Bytes gz = read("attestation.dat.gz");
  assert_non_null(strstr(parse_error(Bytes(gz.begin(), gz.begin() + 300)).c_str(), "gzip data is truncated"));
  Bytes bad_offset = blob;
  bad_offset[32 + 6] = 0x7f;  // the private object's offset, past the buffer
  assert_non_null(strstr(parse_error(bad_offset).c_str(), "the private object lies outside the buffer"));
  Bytes long_attribute = blob;
  long_attribute[32 + 8 + 12 + 4] = 0x7f;  // the first attribute's length, top byte
  assert_non_null(strstr(parse_error(long_attribute).c_str(), "truncated in attribute 0 of the public object"));
  assert_false(marvell::looks_like_marvell(Bytes(300, 0)));
}

// Each vendor's evidence meets its own anchors: the Marvell sample against
// Yubico's root (given as the Luna and YubiKey anchors too) fails, against
// Marvell's it holds.
void evidence_meets_its_vendors_anchors(void**) {
  namespace attest = hsmprov::attest;
  attest::X509StorePtr marvell = attest::load_roots({std::string(HSMPROV_SOURCE) + "/data/marvell-roots.pem"});
  attest::X509StorePtr yubico = attest::load_roots({std::string(HSMPROV_SOURCE) + "/data/yubico-piv-roots.pem"});
  std::vector<X509*> chain;
  hsmprov::BioPtr in(BIO_new_file(data_path("chain.pem").c_str(), "r"));
  while (X509* c = PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr)) chain.push_back(c);
  attest::Checks checks{nullptr, chain, std::nullopt, nullptr, ""};
  Bytes sample = read("attestation.dat.gz");
  assert_false(attest::verify_evidence(sample, {marvell.get(), marvell.get(), yubico.get()}, checks).valid);
  assert_true(attest::verify_evidence(sample, {yubico.get(), yubico.get(), marvell.get()}, checks).valid);
  for (X509* c : chain) X509_free(c);
}

}  // namespace

int main() {
  const CMUnitTest tests[] = {
      cmocka_unit_test(sample_parses_with_both_objects),
      cmocka_unit_test(public_key_is_the_p256_point),
      cmocka_unit_test(signed_by_the_partition_keys_only),
      cmocka_unit_test(damaged_copies_are_named),
      cmocka_unit_test(evidence_meets_its_vendors_anchors),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
