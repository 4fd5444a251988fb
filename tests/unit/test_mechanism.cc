// Unit tests: mechanism parameters and encodings (DigestInfo, PSS salt,
// ECDSA r||s to DER, signature AlgorithmIdentifiers).
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "error.h"
#include "keys/mechanism.h"
#include "keys/signing.h"

// cmocka last: it defines a fail() macro that would shadow hsmprov::fail.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
extern "C" {
#include <cmocka.h>
}

using hsmprov::Bytes;

namespace {

void digest_info_parses_as_x509_sig(void**) {
  const EVP_MD* md = EVP_sha384();
  Bytes hash(48, 0x5a);
  Bytes info = hsmprov::digest_info(md, hash.data(), hash.size());
  const unsigned char* p = info.data();
  X509_SIG* sig = d2i_X509_SIG(nullptr, &p, static_cast<long>(info.size()));
  assert_non_null(sig);
  assert_ptr_equal(p, info.data() + info.size());
  const X509_ALGOR* algorithm = nullptr;
  const ASN1_OCTET_STRING* digest = nullptr;
  X509_SIG_get0(sig, &algorithm, &digest);
  const ASN1_OBJECT* oid = nullptr;
  X509_ALGOR_get0(&oid, nullptr, nullptr, algorithm);
  assert_int_equal(OBJ_obj2nid(oid), NID_sha384);
  assert_int_equal(ASN1_STRING_length(digest), 48);
  assert_memory_equal(ASN1_STRING_get0_data(digest), hash.data(), 48);
  X509_SIG_free(sig);
}

void digest_info_refuses_wrong_length_and_md5(void**) {
  Bytes hash(20, 1);
  bool refused = false;
  try {
    hsmprov::digest_info(EVP_sha256(), hash.data(), hash.size());
  } catch (const hsmprov::Error&) {
    refused = true;
  }
  assert_true(refused);
  refused = false;
  try {
    hsmprov::hash_mechanism(EVP_md5());
  } catch (const hsmprov::Error& e) {
    refused = e.reason() == HSMPROV_R_UNSUPPORTED;
  }
  assert_true(refused);
}

void hashes_map_to_mechanisms(void**) {
  assert_int_equal(hsmprov::hash_mechanism(EVP_sha1()), CKM_SHA_1);
  assert_int_equal(hsmprov::hash_mechanism(EVP_sha256()), CKM_SHA256);
  assert_int_equal(hsmprov::mgf1_for(EVP_sha512()), CKG_MGF1_SHA512);
}

void pss_salt_lengths(void**) {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  assert_non_null(key);
  assert_int_equal(hsmprov::pss_salt_length(RSA_PSS_SALTLEN_DIGEST, EVP_sha256(), key), 32);
  assert_int_equal(hsmprov::pss_salt_length(RSA_PSS_SALTLEN_MAX, EVP_sha256(), key), 256 - 32 - 2);
  assert_int_equal(hsmprov::pss_salt_length(RSA_PSS_SALTLEN_AUTO, EVP_sha512(), key), 256 - 64 - 2);
  assert_int_equal(hsmprov::pss_salt_length(20, EVP_sha256(), key), 20);
  bool refused = false;
  try {
    hsmprov::pss_salt_length(300, EVP_sha256(), key);
  } catch (const hsmprov::Error&) {
    refused = true;
  }
  assert_true(refused);
  EVP_PKEY_free(key);
}

void ecdsa_raw_becomes_der(void**) {
  Bytes raw(64);
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<unsigned char>(i < 32 ? 0x80 + i : i);
  Bytes der = hsmprov::ecdsa_raw_to_der(raw);
  const unsigned char* p = der.data();
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  assert_non_null(sig);
  unsigned char r[32], s[32];
  BN_bn2binpad(ECDSA_SIG_get0_r(sig), r, 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig), s, 32);
  assert_memory_equal(r, raw.data(), 32);
  assert_memory_equal(s, raw.data() + 32, 32);
  ECDSA_SIG_free(sig);
}

// Strict DER: OpenSSL re-encodes what it decoded to the same bytes.
void assert_ecdsa_der_matches(const Bytes& raw) {
  Bytes der = hsmprov::ecdsa_raw_to_der(raw);
  const unsigned char* p = der.data();
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  assert_non_null(sig);
  assert_ptr_equal(p, der.data() + der.size());
  unsigned char* again = nullptr;
  int size = i2d_ECDSA_SIG(sig, &again);
  assert_int_equal(size, der.size());
  assert_memory_equal(again, der.data(), der.size());
  size_t half = raw.size() / 2;
  Bytes r(half), s(half);
  BN_bn2binpad(ECDSA_SIG_get0_r(sig), r.data(), static_cast<int>(half));
  BN_bn2binpad(ECDSA_SIG_get0_s(sig), s.data(), static_cast<int>(half));
  assert_memory_equal(r.data(), raw.data(), half);
  assert_memory_equal(s.data(), raw.data() + half, half);
  OPENSSL_free(again);
  ECDSA_SIG_free(sig);
}

void ecdsa_der_edge_cases(void**) {
  for (size_t size : {64, 96, 132}) {  // P-256, P-384, P-521 (long-form length)
    Bytes high(size, 0xff), leading_zeros(size, 0), mixed(size);
    leading_zeros[size / 2 - 1] = 1;
    leading_zeros[size - 1] = 0x80;
    for (size_t i = 0; i < size; ++i) mixed[i] = static_cast<unsigned char>(i * 37 + 11);
    assert_ecdsa_der_matches(high);
    assert_ecdsa_der_matches(leading_zeros);
    assert_ecdsa_der_matches(mixed);
  }
}

void algorithm_identifiers(void**) {
  hsmprov::SignatureSettings rsa;
  rsa.md = EVP_sha256();
  const Bytes sha256_rsa = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7,
                            0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00};  // sha256WithRSAEncryption, NULL
  assert_true(hsmprov::signature_algorithm_id(hsmprov::KeyType::rsa, rsa, nullptr) == sha256_rsa);
  hsmprov::SignatureSettings ec;
  ec.md = EVP_sha384();
  const Bytes sha384_ecdsa = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03};
  assert_true(hsmprov::signature_algorithm_id(hsmprov::KeyType::ec, ec, nullptr) == sha384_ecdsa);
  const Bytes ed25519 = {0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70};
  assert_true(hsmprov::signature_algorithm_id(hsmprov::KeyType::ed25519, {}, nullptr) == ed25519);
}

void pss_algorithm_identifier_carries_parameters(void**) {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  hsmprov::SignatureSettings pss;
  pss.padding = RSA_PKCS1_PSS_PADDING;
  pss.md = EVP_sha256();
  pss.saltlen = RSA_PSS_SALTLEN_DIGEST;
  Bytes der = hsmprov::signature_algorithm_id(hsmprov::KeyType::rsa, pss, key);
  const unsigned char* p = der.data();
  X509_ALGOR* algorithm = d2i_X509_ALGOR(nullptr, &p, static_cast<long>(der.size()));
  assert_non_null(algorithm);
  const ASN1_OBJECT* oid = nullptr;
  int param_type = 0;
  const void* param = nullptr;
  X509_ALGOR_get0(&oid, &param_type, &param, algorithm);
  assert_int_equal(OBJ_obj2nid(oid), NID_rsassaPss);
  assert_int_equal(param_type, V_ASN1_SEQUENCE);
  const ASN1_STRING* seq = static_cast<const ASN1_STRING*>(param);
  const unsigned char* q = ASN1_STRING_get0_data(seq);
  RSA_PSS_PARAMS* params = d2i_RSA_PSS_PARAMS(nullptr, &q, ASN1_STRING_length(seq));
  assert_non_null(params);
  assert_int_equal(ASN1_INTEGER_get(params->saltLength), 32);
  RSA_PSS_PARAMS_free(params);
  X509_ALGOR_free(algorithm);
  EVP_PKEY_free(key);
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(digest_info_parses_as_x509_sig),
      cmocka_unit_test(digest_info_refuses_wrong_length_and_md5),
      cmocka_unit_test(hashes_map_to_mechanisms),
      cmocka_unit_test(pss_salt_lengths),
      cmocka_unit_test(ecdsa_raw_becomes_der),
      cmocka_unit_test(ecdsa_der_edge_cases),
      cmocka_unit_test(algorithm_identifiers),
      cmocka_unit_test(pss_algorithm_identifier_carries_parameters),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
