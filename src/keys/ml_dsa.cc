// ML-DSA: signing in the token by CKM_ML_DSA, verification in software.
#include "keys/ml_dsa.h"

#include <openssl/objects.h>
#include <openssl/x509.h>

#include "encoded.h"
#include "error.h"

namespace hsmprov {
namespace {

// OpenSSL 3.5's OSSL_SIGNATURE_PARAM_CONTEXT_STRING and _DETERMINISTIC;
// this file also builds against 3.0.
constexpr const char* kContextString = "context-string";
constexpr const char* kDeterministic = "deterministic";

// A one-shot signing or verifying context of OpenSSL's own ML-DSA, with
// the settings' context string (when there is one) and hedging.
EvpMdCtxPtr software_context(OSSL_LIB_CTX* libctx, Key& key, const SignatureSettings& settings, bool signing) {
  int deterministic = settings.deterministic ? 1 : 0;
  OSSL_PARAM params[3];
  OSSL_PARAM* p = params;
  if (!settings.context.empty())
    *p++ = OSSL_PARAM_construct_octet_string(kContextString, const_cast<unsigned char*>(settings.context.data()),
                                             settings.context.size());
  if (signing) *p++ = OSSL_PARAM_construct_int(kDeterministic, &deterministic);
  *p = OSSL_PARAM_construct_end();
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  int ok = ctx && (signing ? EVP_DigestSignInit_ex(ctx.get(), nullptr, nullptr, libctx, nullptr, key.public_key(), params)
                           : EVP_DigestVerifyInit_ex(ctx.get(), nullptr, nullptr, libctx, nullptr, key.public_key(),
                                                     params));
  if (ok <= 0) fail(HSMPROV_R_INTERNAL, "cannot set up ML-DSA in software");
  return ctx;
}

const char* oid_of(KeyType type) {
  switch (type) {
    case KeyType::ml_dsa_44: return "2.16.840.1.101.3.4.3.17";
    case KeyType::ml_dsa_65: return "2.16.840.1.101.3.4.3.18";
    default: return "2.16.840.1.101.3.4.3.19";
  }
}

}  // namespace

EvpPkeyPtr ml_dsa_public_key(OSSL_LIB_CTX* libctx, KeyType type, const Bytes& raw) {
  EvpPkeyPtr key(EVP_PKEY_new_raw_public_key_ex(libctx, key_type_name(type), nullptr, raw.data(), raw.size()));
  if (!key) fail(HSMPROV_R_UNSUPPORTED, std::string("the token's ") + key_type_name(type) + " public key (" +
                                            std::to_string(raw.size()) + " bytes) is not one OpenSSL can use");
  return key;
}

Bytes ml_dsa_sign(Key& key, const SignatureSettings& settings, const unsigned char* message, size_t size) {
  HsmprovSignAdditionalContext parameters{settings.deterministic ? CKH_DETERMINISTIC_REQUIRED : CKH_HEDGE_PREFERRED,
                                          const_cast<unsigned char*>(settings.context.data()),
                                          settings.context.size()};
  // No parameter for OpenSSL's default (hedged, empty context): every token
  // that has CKM_ML_DSA takes that one.
  CK_MECHANISM mechanism{CKM_ML_DSA, nullptr, 0};
  if (!settings.context.empty() || settings.deterministic) mechanism = {CKM_ML_DSA, &parameters, sizeof parameters};
  return key.sign(mechanism, message, size);
}

bool ml_dsa_verify(OSSL_LIB_CTX* libctx, Key& key, const SignatureSettings& settings, const unsigned char* sig,
                   size_t sig_size, const unsigned char* message, size_t size) {
  EvpMdCtxPtr ctx = software_context(libctx, key, settings, false);
  return EVP_DigestVerify(ctx.get(), sig, sig_size, message, size) == 1;
}

Bytes ml_dsa_sign_in_software(OSSL_LIB_CTX* libctx, Key& key, const SignatureSettings& settings,
                              const unsigned char* message, size_t size) {
  EvpMdCtxPtr ctx = software_context(libctx, key, settings, true);
  size_t sig_size = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &sig_size, message, size) <= 0)
    fail(HSMPROV_R_INTERNAL, "ML-DSA in software failed");
  Bytes sig(sig_size);
  if (EVP_DigestSign(ctx.get(), sig.data(), &sig_size, message, size) <= 0)
    fail(HSMPROV_R_INTERNAL, "ML-DSA in software failed");
  sig.resize(sig_size);
  return sig;
}

Bytes ml_dsa_algorithm_id(KeyType type) {
  std::unique_ptr<X509_ALGOR, Deleter<X509_ALGOR, X509_ALGOR_free>> algorithm(X509_ALGOR_new());
  ASN1_OBJECT* oid = OBJ_txt2obj(oid_of(type), 1);
  if (!algorithm || oid == nullptr || !X509_ALGOR_set0(algorithm.get(), oid, V_ASN1_UNDEF, nullptr)) {
    ASN1_OBJECT_free(oid);
    fail(HSMPROV_R_INTERNAL, "cannot encode the ML-DSA signature algorithm");
  }
  return encoded(i2d_X509_ALGOR, static_cast<const X509_ALGOR*>(algorithm.get()), "the signature algorithm");
}

}  // namespace hsmprov
