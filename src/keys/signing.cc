// Token signing by mechanism, software verification, AlgorithmIdentifier.
#include "keys/signing.h"

#include <openssl/objects.h>
#include <openssl/x509.h>

#include "encoded.h"
#include "error.h"
#include "keys/mechanism.h"
#include "keys/ml_dsa.h"

namespace hsmprov {
namespace {

Bytes sign_rsa(Key& key, const SignatureSettings& settings, const unsigned char* tbs, size_t size) {
  if (settings.padding == RSA_PKCS1_PSS_PADDING) {
    if (settings.md == nullptr) fail(HSMPROV_R_INVALID_ARGUMENT, "RSA-PSS needs a digest");
    const EVP_MD* mgf1 = settings.mgf1 ? settings.mgf1 : settings.md;
    CK_RSA_PKCS_PSS_PARAMS params{hash_mechanism(settings.md), mgf1_for(mgf1),
                                  pss_salt_length(settings.saltlen, settings.md, key.public_key())};
    if (size != static_cast<size_t>(EVP_MD_get_size(settings.md)))
      fail(HSMPROV_R_INVALID_ARGUMENT, "the input is not a hash of the PSS digest");
    CK_MECHANISM mechanism{CKM_RSA_PKCS_PSS, &params, sizeof params};
    return key.sign(mechanism, tbs, size);
  }
  if (settings.padding != RSA_PKCS1_PADDING)
    fail(HSMPROV_R_UNSUPPORTED, "only PKCS#1 v1.5 and PSS padding are supported for RSA signatures");
  CK_MECHANISM mechanism{CKM_RSA_PKCS, nullptr, 0};
  if (settings.md == nullptr) return key.sign(mechanism, tbs, size);
  Bytes input = digest_info(settings.md, tbs, size);
  return key.sign(mechanism, input.data(), input.size());
}

// OpenSSL's own RSA or ECDSA with the settings, started by `init`
// (EVP_PKEY_verify_init, or EVP_PKEY_sign_init for a key in software).
EvpPkeyCtxPtr pkey_context(OSSL_LIB_CTX* libctx, Key& key, const SignatureSettings& settings,
                           int (*init)(EVP_PKEY_CTX*)) {
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(libctx, key.public_key(), nullptr));
  if (!ctx || init(ctx.get()) <= 0) fail(HSMPROV_R_INTERNAL, "cannot set up the signature in software");
  bool ok = settings.md == nullptr || EVP_PKEY_CTX_set_signature_md(ctx.get(), settings.md) > 0;
  if (ok && key.type() == KeyType::rsa) {
    ok = EVP_PKEY_CTX_set_rsa_padding(ctx.get(), settings.padding) > 0;
    if (ok && settings.padding == RSA_PKCS1_PSS_PADDING) {
      ok = EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx.get(), settings.saltlen) > 0 &&
           (settings.mgf1 == nullptr || EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), settings.mgf1) > 0);
    }
  }
  if (!ok) fail(HSMPROV_R_INVALID_ARGUMENT, "these signature parameters cannot be verified");
  return ctx;
}

Bytes to_der(const X509_ALGOR* algorithm) { return encoded(i2d_X509_ALGOR, algorithm, "the signature algorithm"); }

// A SEQUENCE-valued ASN1_TYPE parameter for an AlgorithmIdentifier.
ASN1_STRING* sequence_of(const Bytes& der) {
  ASN1_STRING* s = ASN1_STRING_new();
  if (s == nullptr || !ASN1_STRING_set(s, der.data(), static_cast<int>(der.size()))) {
    ASN1_STRING_free(s);
    fail(HSMPROV_R_INTERNAL, "cannot encode the signature algorithm");
  }
  return s;
}

X509_ALGOR* new_algorithm(int nid, int param_type, void* param) {
  X509_ALGOR* algorithm = X509_ALGOR_new();
  if (algorithm == nullptr || !X509_ALGOR_set0(algorithm, OBJ_nid2obj(nid), param_type, param)) {
    X509_ALGOR_free(algorithm);
    fail(HSMPROV_R_INTERNAL, "cannot encode the signature algorithm");
  }
  return algorithm;
}

using AlgorPtr = std::unique_ptr<X509_ALGOR, Deleter<X509_ALGOR, X509_ALGOR_free>>;

// RSASSA-PSS AlgorithmIdentifier with explicit parameters (RFC 4055, 3.1).
Bytes pss_algorithm_id(const SignatureSettings& settings, const EVP_PKEY* key) {
  const EVP_MD* mgf1 = settings.mgf1 ? settings.mgf1 : settings.md;
  std::unique_ptr<RSA_PSS_PARAMS, Deleter<RSA_PSS_PARAMS, RSA_PSS_PARAMS_free>> params(RSA_PSS_PARAMS_new());
  AlgorPtr mgf1_hash(X509_ALGOR_new());
  if (!params || !mgf1_hash) fail(HSMPROV_R_INTERNAL, "out of memory");
  params->hashAlgorithm = X509_ALGOR_new();
  X509_ALGOR_set_md(params->hashAlgorithm, settings.md);
  X509_ALGOR_set_md(mgf1_hash.get(), mgf1);
  params->maskGenAlgorithm = new_algorithm(NID_mgf1, V_ASN1_SEQUENCE, sequence_of(to_der(mgf1_hash.get())));
  params->saltLength = ASN1_INTEGER_new();
  ASN1_INTEGER_set(params->saltLength, static_cast<long>(pss_salt_length(settings.saltlen, settings.md, key)));
  Bytes pss = encoded(i2d_RSA_PSS_PARAMS, static_cast<const RSA_PSS_PARAMS*>(params.get()), "the PSS parameters");
  AlgorPtr algorithm(new_algorithm(NID_rsassaPss, V_ASN1_SEQUENCE, sequence_of(pss)));
  return to_der(algorithm.get());
}

}  // namespace

Bytes sign_with_token(Key& key, const SignatureSettings& settings, const unsigned char* tbs, size_t size) {
  switch (key.type()) {
    case KeyType::rsa: return sign_rsa(key, settings, tbs, size);
    case KeyType::ec: {
      CK_MECHANISM mechanism{CKM_ECDSA, nullptr, 0};
      return ecdsa_raw_to_der(key.sign(mechanism, tbs, size));
    }
    case KeyType::ed25519: {
      CK_MECHANISM mechanism{CKM_EDDSA, nullptr, 0};
      return key.sign(mechanism, tbs, size);
    }
    case KeyType::ml_dsa_44:
    case KeyType::ml_dsa_65:
    case KeyType::ml_dsa_87:
      return ml_dsa_sign(key, settings, tbs, size);
  }
  fail(HSMPROV_R_INTERNAL, "unknown key type");
}

bool verify_in_software(OSSL_LIB_CTX* libctx, Key& key, const SignatureSettings& settings, const unsigned char* sig,
                        size_t sig_size, const unsigned char* tbs, size_t tbs_size) {
  if (is_ml_dsa(key.type())) return ml_dsa_verify(libctx, key, settings, sig, sig_size, tbs, tbs_size);
  if (key.type() == KeyType::ed25519) {
    EvpMdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestVerifyInit_ex(ctx.get(), nullptr, nullptr, libctx, nullptr, key.public_key(), nullptr) <= 0)
      fail(HSMPROV_R_INTERNAL, "cannot set up Ed25519 verification");
    return EVP_DigestVerify(ctx.get(), sig, sig_size, tbs, tbs_size) == 1;
  }
  EvpPkeyCtxPtr ctx = pkey_context(libctx, key, settings, EVP_PKEY_verify_init);
  return EVP_PKEY_verify(ctx.get(), sig, sig_size, tbs, tbs_size) == 1;
}

Bytes sign_in_software(OSSL_LIB_CTX* libctx, Key& key, const SignatureSettings& settings, const unsigned char* tbs,
                       size_t size) {
  if (!key.has_private()) fail(HSMPROV_R_UNSUPPORTED, key.where() + ": not a private key");
  if (is_ml_dsa(key.type())) return ml_dsa_sign_in_software(libctx, key, settings, tbs, size);
  size_t sig_size = 0;
  Bytes sig;
  if (key.type() == KeyType::ed25519) {
    EvpMdCtxPtr ctx(EVP_MD_CTX_new());
    bool ok = ctx && EVP_DigestSignInit_ex(ctx.get(), nullptr, nullptr, libctx, nullptr, key.public_key(), nullptr) > 0 &&
              EVP_DigestSign(ctx.get(), nullptr, &sig_size, tbs, size) > 0;
    sig.resize(sig_size);
    if (!ok || EVP_DigestSign(ctx.get(), sig.data(), &sig_size, tbs, size) <= 0)
      fail(HSMPROV_R_INTERNAL, "Ed25519 in software failed");
  } else {
    EvpPkeyCtxPtr ctx = pkey_context(libctx, key, settings, EVP_PKEY_sign_init);
    bool ok = EVP_PKEY_sign(ctx.get(), nullptr, &sig_size, tbs, size) > 0;
    sig.resize(sig_size);
    if (!ok || EVP_PKEY_sign(ctx.get(), sig.data(), &sig_size, tbs, size) <= 0)
      fail(HSMPROV_R_INTERNAL, "the signature in software failed");
  }
  sig.resize(sig_size);
  return sig;
}

Bytes signature_algorithm_id(KeyType type, const SignatureSettings& settings, const EVP_PKEY* key) {
  if (type == KeyType::ed25519) return to_der(AlgorPtr(new_algorithm(NID_ED25519, V_ASN1_UNDEF, nullptr)).get());
  if (is_ml_dsa(type)) return ml_dsa_algorithm_id(type);
  if (settings.md == nullptr) return {};
  if (type == KeyType::rsa && settings.padding == RSA_PKCS1_PSS_PADDING) return pss_algorithm_id(settings, key);
  int key_nid = type == KeyType::rsa ? NID_rsaEncryption : NID_X9_62_id_ecPublicKey;
  int nid = NID_undef;
  if (!OBJ_find_sigid_by_algs(&nid, EVP_MD_get_type(settings.md), key_nid)) return {};
  // RFC 4055: NULL parameters for PKCS#1 v1.5; RFC 5758: none for ECDSA.
  int param_type = type == KeyType::rsa ? V_ASN1_NULL : V_ASN1_UNDEF;
  return to_der(AlgorPtr(new_algorithm(nid, param_type, nullptr)).get());
}

}  // namespace hsmprov
