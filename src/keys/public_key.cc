// Public key construction in the software library context.
#include "keys/public_key.h"

#include <openssl/core_names.h>
#include <openssl/objects.h>

#include "error.h"

namespace hsmprov {
namespace {

EvpPkeyPtr from_spki(OSSL_LIB_CTX* libctx, X509_PUBKEY* spki) {
  unsigned char* der = nullptr;
  int len = i2d_X509_PUBKEY(spki, &der);
  if (len <= 0) fail(HSMPROV_R_INTERNAL, "cannot encode the token's public key");
  const unsigned char* p = der;
  EvpPkeyPtr key(d2i_PUBKEY_ex(nullptr, &p, len, libctx, nullptr));
  OPENSSL_free(der);
  if (!key) fail(HSMPROV_R_UNSUPPORTED, "the token's public key is not one OpenSSL can use");
  return key;
}

EvpPkeyPtr spki_key(OSSL_LIB_CTX* libctx, int algorithm_nid, int param_type, void* param, const Bytes& point) {
  X509PubkeyPtr spki(X509_PUBKEY_new());
  auto* copy = static_cast<unsigned char*>(OPENSSL_memdup(point.data(), point.size()));
  if (!spki || copy == nullptr ||
      !X509_PUBKEY_set0_param(spki.get(), OBJ_nid2obj(algorithm_nid), param_type, param, copy,
                              static_cast<int>(point.size()))) {
    OPENSSL_free(copy);
    fail(HSMPROV_R_INTERNAL, "cannot build the token key's SubjectPublicKeyInfo");
  }
  return from_spki(libctx, spki.get());
}

}  // namespace

Bytes unwrap_ec_point(const Bytes& ec_point) {
  const unsigned char* p = ec_point.data();
  ASN1_OCTET_STRING* inner = d2i_ASN1_OCTET_STRING(nullptr, &p, static_cast<long>(ec_point.size()));
  if (inner == nullptr || p != ec_point.data() + ec_point.size()) {
    ASN1_OCTET_STRING_free(inner);
    return ec_point;  // raw form
  }
  Bytes out(inner->data, inner->data + inner->length);
  ASN1_OCTET_STRING_free(inner);
  return out;
}

EvpPkeyPtr rsa_public_key(OSSL_LIB_CTX* libctx, const Bytes& modulus, const Bytes& exponent) {
  BignumPtr n(BN_bin2bn(modulus.data(), static_cast<int>(modulus.size()), nullptr));
  BignumPtr e(BN_bin2bn(exponent.data(), static_cast<int>(exponent.size()), nullptr));
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!n || !e || !bld || !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()))
    fail(HSMPROV_R_INTERNAL, "cannot build RSA public key parameters");
  ParamsPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(libctx, "RSA", nullptr));
  EVP_PKEY* key = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0)
    fail(HSMPROV_R_UNSUPPORTED, "the token's RSA public key is not valid");
  return EvpPkeyPtr(key);
}

EvpPkeyPtr ec_public_key(OSSL_LIB_CTX* libctx, const Bytes& ec_params, const Bytes& ec_point) {
  const unsigned char* p = ec_params.data();
  ASN1_OBJECT* curve = d2i_ASN1_OBJECT(nullptr, &p, static_cast<long>(ec_params.size()));
  if (curve == nullptr) fail(HSMPROV_R_UNSUPPORTED, "CKA_EC_PARAMS is not a named curve");
  return spki_key(libctx, NID_X9_62_id_ecPublicKey, V_ASN1_OBJECT, curve, unwrap_ec_point(ec_point));
}

EvpPkeyPtr ed25519_public_key(OSSL_LIB_CTX* libctx, const Bytes& ec_point) {
  return spki_key(libctx, NID_ED25519, V_ASN1_UNDEF, nullptr, unwrap_ec_point(ec_point));
}

EvpPkeyPtr public_key_from_spki(OSSL_LIB_CTX* libctx, const Bytes& der) {
  const unsigned char* p = der.data();
  EvpPkeyPtr key(d2i_PUBKEY_ex(nullptr, &p, static_cast<long>(der.size()), libctx, nullptr));
  if (!key) fail(HSMPROV_R_UNSUPPORTED, "the token's CKA_PUBLIC_KEY_INFO is not a public key OpenSSL can use");
  return key;
}

EvpPkeyPtr certificate_public_key(OSSL_LIB_CTX* libctx, const Bytes& der) {
  X509* cert = X509_new_ex(libctx, nullptr);
  const unsigned char* p = der.data();
  if (cert == nullptr || d2i_X509(&cert, &p, static_cast<long>(der.size())) == nullptr) {
    X509_free(cert);
    fail(HSMPROV_R_UNSUPPORTED, "the token's certificate cannot be parsed");
  }
  EVP_PKEY* key = X509_get_pubkey(cert);
  X509_free(cert);
  if (key == nullptr) fail(HSMPROV_R_UNSUPPORTED, "the token's certificate has an unusable public key");
  return EvpPkeyPtr(key);
}

}  // namespace hsmprov
