// Mechanism mapping and encodings for signatures and RSA decryption.
#include "keys/mechanism.h"

#include <openssl/objects.h>
#include <openssl/rsa.h>

#include "error.h"
#include "der.h"

namespace hsmprov {
namespace {

struct HashInfo {
  int nid;
  CK_MECHANISM_TYPE mechanism;
  CK_RSA_PKCS_MGF_TYPE mgf;
  Bytes digest_info_prefix;  // DER of DigestInfo up to the hash value (RFC 8017, 9.2 note 1)
};

const HashInfo& info_for(const EVP_MD* md) {
  static const HashInfo table[] = {
      {NID_sha1, CKM_SHA_1, CKG_MGF1_SHA1,
       {0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14}},
      {NID_sha224, CKM_SHA224, CKG_MGF1_SHA224,
       {0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04, 0x05, 0x00, 0x04,
        0x1c}},
      {NID_sha256, CKM_SHA256, CKG_MGF1_SHA256,
       {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04,
        0x20}},
      {NID_sha384, CKM_SHA384, CKG_MGF1_SHA384,
       {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04,
        0x30}},
      {NID_sha512, CKM_SHA512, CKG_MGF1_SHA512,
       {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04,
        0x40}},
  };
  int nid = md ? EVP_MD_get_type(md) : NID_undef;
  for (const HashInfo& info : table)
    if (info.nid == nid) return info;
  fail(HSMPROV_R_UNSUPPORTED, std::string("digest ") + (md ? EVP_MD_get0_name(md) : "(none)") +
                                  " is not supported with token keys; use SHA-1 or SHA-2");
}

}  // namespace

CK_MECHANISM_TYPE hash_mechanism(const EVP_MD* md) { return info_for(md).mechanism; }

CK_RSA_PKCS_MGF_TYPE mgf1_for(const EVP_MD* md) { return info_for(md).mgf; }

Bytes digest_info(const EVP_MD* md, const unsigned char* hash, size_t size) {
  const HashInfo& info = info_for(md);
  if (size != static_cast<size_t>(EVP_MD_get_size(md)))
    fail(HSMPROV_R_INVALID_ARGUMENT, "the input is not a " + std::string(EVP_MD_get0_name(md)) + " hash");
  Bytes out = info.digest_info_prefix;
  out.insert(out.end(), hash, hash + size);
  return out;
}

CK_ULONG pss_salt_length(int saltlen, const EVP_MD* md, const EVP_PKEY* key) {
  int hash_size = EVP_MD_get_size(md);
  int bits = EVP_PKEY_get_bits(key);
  int max = (bits - 1 + 7) / 8 - hash_size - 2;  // emLen - hLen - 2 (RFC 8017, 9.1.1)
  if (saltlen == RSA_PSS_SALTLEN_DIGEST) return static_cast<CK_ULONG>(hash_size);
  if (saltlen == RSA_PSS_SALTLEN_MAX || saltlen == RSA_PSS_SALTLEN_AUTO) return static_cast<CK_ULONG>(max);
  if (saltlen < 0 || saltlen > max) fail(HSMPROV_R_INVALID_ARGUMENT, "PSS salt length out of range");
  return static_cast<CK_ULONG>(saltlen);
}

Bytes ecdsa_raw_to_der(const Bytes& raw) {
  if (raw.empty() || raw.size() % 2 != 0) fail(HSMPROV_R_PKCS11, "the token's ECDSA signature has an odd size");
  size_t half = raw.size() / 2;
  return der::ecdsa_signature(raw.data(), half, raw.data() + half, half);
}

}  // namespace hsmprov
