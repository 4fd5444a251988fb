// TEST DOUBLE (part of the test shim): Luna's PKC attributes. A private key
// generated on the token as never-extractable gets a PKC: a leaf for its
// public key, CN = its OUID, signed by the test chain's issuer, in a
// certs-only PKCS#7 with the rest of that chain. Imported or extractable
// keys get none, as on a Luna. The test chain (made by the tests) is read
// from HSMPROV_SHIM_PKC_DIR: {rsa,ecc}-issuer.key and {rsa,ecc}-chain.pem.
#include "shim/luna_pkc.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>

#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "file_bytes.h"
#include "keys/public_key.h"

namespace hsmprov::shim {
namespace {

std::optional<Bytes> attribute(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE object,
                               CK_ATTRIBUTE_TYPE type) {
  CK_ATTRIBUTE a{type, nullptr, 0};
  if (p11->C_GetAttributeValue(h, object, &a, 1) != CKR_OK || a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
    return std::nullopt;
  Bytes value(a.ulValueLen);
  a.pValue = value.data();
  if (p11->C_GetAttributeValue(h, object, &a, 1) != CKR_OK) return std::nullopt;
  return value;
}

bool flag(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) {
  auto value = attribute(p11, h, object, type);
  return value && value->size() == 1 && (*value)[0] == CK_TRUE;
}

CK_ULONG ulong_of(const std::optional<Bytes>& value) {
  CK_ULONG n = ~0UL;
  if (value && value->size() == sizeof n) std::memcpy(&n, value->data(), sizeof n);
  return n;
}

// Luna OUIDs are 12 bytes; ours derive from CKA_ID, so they are stable.
std::string ouid_hex(const Bytes& id) {
  unsigned char hash[32];
  EVP_Digest(id.data(), id.size(), hash, nullptr, EVP_sha256(), nullptr);
  static const char digits[] = "0123456789abcdef";
  std::string hex;
  for (int i = 0; i < 12; ++i) (hex += digits[hash[i] >> 4]) += digits[hash[i] & 15];
  return hex;
}

EvpPkeyPtr public_key_of(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE object, bool rsa,
                         const Bytes& id) {
  if (rsa)
    return rsa_public_key(nullptr, *attribute(p11, h, object, CKA_MODULUS),
                          *attribute(p11, h, object, CKA_PUBLIC_EXPONENT));
  CK_OBJECT_CLASS public_class = CKO_PUBLIC_KEY;
  CK_ATTRIBUTE query[] = {{CKA_CLASS, &public_class, sizeof public_class},
                          {CKA_ID, const_cast<unsigned char*>(id.data()), id.size()}};
  CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE;
  CK_ULONG found = 0;
  p11->C_FindObjectsInit(h, query, 2);
  p11->C_FindObjects(h, &pub, 1, &found);
  p11->C_FindObjectsFinal(h);
  if (found != 1) return nullptr;
  return ec_public_key(nullptr, *attribute(p11, h, pub, CKA_EC_PARAMS), *attribute(p11, h, pub, CKA_EC_POINT));
}

void add_extension(X509* x509, const char* oid, bool critical, const Bytes& value) {
  ASN1_OBJECT* object = OBJ_txt2obj(oid, 1);
  ASN1_OCTET_STRING* data = ASN1_OCTET_STRING_new();
  ASN1_OCTET_STRING_set(data, value.data(), static_cast<int>(value.size()));
  X509_EXTENSION* extension = X509_EXTENSION_create_by_OBJ(nullptr, object, critical, data);
  X509_add_ext(x509, extension, -1);
  X509_EXTENSION_free(extension);
  ASN1_OCTET_STRING_free(data);
  ASN1_OBJECT_free(object);
}

void add_named_extension(X509* x509, int nid, const char* value) {
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, nullptr, nid, value);
  X509_add_ext(x509, extension, -1);
  X509_EXTENSION_free(extension);
}

// The leaf of the profile: role EKU 13, HSM serial 12383.2.1, and for the
// RSA (Chrysalis-ITS) profile the firmware version 12383.2.3, as in the
// real files; signed by the test chain's issuer.
X509* make_leaf(bool rsa, EVP_PKEY* key, const std::string& ouid, X509* issuer, EVP_PKEY* issuer_key) {
  X509* leaf = X509_new();
  X509_set_version(leaf, 2);
  unsigned char serial[8];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(leaf));
  BN_free(bn);
  X509_set_issuer_name(leaf, X509_get_subject_name(issuer));
  X509_NAME* subject = X509_get_subject_name(leaf);
  if (!rsa) X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_UTF8, (const unsigned char*)"SafeNet, Inc.", -1, -1, 0);
  X509_NAME_add_entry_by_txt(subject, "OU", MBSTRING_UTF8,
                             (const unsigned char*)(rsa ? "Chrysalis-ITS Proof of Origin" : "Luna Module"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, (const unsigned char*)ouid.c_str(), -1, -1, 0);
  X509_gmtime_adj(X509_getm_notBefore(leaf), -86400);
  X509_gmtime_adj(X509_getm_notAfter(leaf), 10L * 365 * 86400);
  X509_set_pubkey(leaf, key);
  add_named_extension(leaf, NID_ext_key_usage, "critical,1.3.6.1.4.1.12383.1.13");
  add_named_extension(leaf, NID_key_usage, "critical,digitalSignature");
  add_extension(leaf, "1.3.6.1.4.1.12383.2.1", false, {0x40, 0xe2, 0x01, 0x00});  // HSM serial 123456
  if (rsa) add_extension(leaf, "1.3.6.1.4.1.12383.2.3", false, {0x54, 0x00, 0x07, 0x00});  // firmware 7.8.4
  X509_sign(leaf, issuer_key, EVP_sha256());
  return leaf;
}

std::optional<Bytes> build_pkc(bool rsa, EVP_PKEY* key, const std::string& ouid) {
  const char* dir = std::getenv("HSMPROV_SHIM_PKC_DIR");
  if (dir == nullptr) return std::nullopt;
  std::string base = std::string(dir) + (rsa ? "/rsa-" : "/ecc-");
  FILE* key_file = std::fopen((base + "issuer.key").c_str(), "r");
  FILE* chain_file = std::fopen((base + "chain.pem").c_str(), "r");
  if (key_file == nullptr || chain_file == nullptr) return std::nullopt;
  EVP_PKEY* issuer_key = PEM_read_PrivateKey(key_file, nullptr, nullptr, nullptr);
  PKCS7* p7 = PKCS7_new();
  PKCS7_set_type(p7, NID_pkcs7_signed);
  p7->d.sign->contents->type = OBJ_nid2obj(NID_pkcs7_data);  // certs only: no content
  X509* issuer = PEM_read_X509(chain_file, nullptr, nullptr, nullptr);
  X509* leaf = make_leaf(rsa, key, ouid, issuer, issuer_key);
  PKCS7_add_certificate(p7, leaf);
  for (X509* c = issuer; c != nullptr; c = PEM_read_X509(chain_file, nullptr, nullptr, nullptr)) {
    PKCS7_add_certificate(p7, c);
    X509_free(c);
  }
  unsigned char* der = nullptr;
  int size = i2d_PKCS7(p7, &der);
  Bytes out(der, der + (size > 0 ? size : 0));
  OPENSSL_free(der);
  X509_free(leaf);
  PKCS7_free(p7);
  EVP_PKEY_free(issuer_key);
  std::fclose(key_file);
  std::fclose(chain_file);
  return out;
}

// A PKC is built once per key and format and kept beside the test chain
// as built-OUID-FORMAT.der, so that, as on a Luna, every read (and every
// process) gets the same bytes.
std::optional<Bytes> stored_pkc(bool rsa, EVP_PKEY* key, const std::string& ouid, CK_ATTRIBUTE_TYPE type) {
  const char* dir = std::getenv("HSMPROV_SHIM_PKC_DIR");
  if (dir == nullptr) return std::nullopt;
  std::string path = std::string(dir) + "/built-" + ouid + "-" + std::to_string(type) + ".der";
  if (auto stored = read_file(path)) return stored;
  auto built = build_pkc(rsa, key, ouid);
  if (built) {
    if (FILE* out = std::fopen(path.c_str(), "wb")) {
      std::fwrite(built->data(), 1, built->size(), out);
      std::fclose(out);
    }
  }
  return built;
}

// What a Luna answers for `type` on this object, or nullopt (as for an
// imported or extractable key, or a format of the other key type).
std::optional<Bytes> luna_value(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE object,
                                CK_ATTRIBUTE_TYPE type) {
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  if (ulong_of(attribute(p11, h, object, CKA_CLASS)) != CKO_PRIVATE_KEY) return std::nullopt;
  Bytes id = attribute(p11, h, object, CKA_ID).value_or(Bytes());
  std::string ouid = ouid_hex(id);
  if (type == CKA_OUID) return Bytes(ouid.begin(), ouid.end());
  if (!flag(p11, h, object, CKA_LOCAL) || !flag(p11, h, object, CKA_NEVER_EXTRACTABLE)) return std::nullopt;
  bool rsa = ulong_of(attribute(p11, h, object, CKA_KEY_TYPE)) == CKK_RSA;
  if (rsa != (type != CKA_PKC_ECC)) return std::nullopt;
  EvpPkeyPtr key = public_key_of(p11, h, object, rsa, id);
  return key ? stored_pkc(rsa, key.get(), ouid, type) : std::nullopt;
}

}  // namespace

bool is_luna_attribute(CK_ATTRIBUTE_TYPE type) {
  return type == CKA_PKC_TCTRUST || type == CKA_PKC_CITS || type == CKA_OUID || type == CKA_PKC_ECC;
}

CK_RV luna_attributes(CK_FUNCTION_LIST* target, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
                      CK_ATTRIBUTE_PTR attrs, CK_ULONG count) {
  CK_RV result = CKR_OK;
  for (CK_ULONG i = 0; i < count; ++i) {
    CK_ATTRIBUTE& a = attrs[i];
    if (!is_luna_attribute(a.type)) {
      CK_RV rv = target->C_GetAttributeValue(session, object, &a, 1);
      if (rv != CKR_OK) result = rv;
      continue;
    }
    auto value = luna_value(target, session, object, a.type);
    if (!value) {
      a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
      result = CKR_ATTRIBUTE_TYPE_INVALID;
    } else if (a.pValue == nullptr) {
      a.ulValueLen = value->size();
    } else if (a.ulValueLen < value->size()) {
      a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
      result = CKR_BUFFER_TOO_SMALL;
    } else {
      std::memcpy(a.pValue, value->data(), value->size());
      a.ulValueLen = value->size();
    }
  }
  return result;
}

}  // namespace hsmprov::shim
