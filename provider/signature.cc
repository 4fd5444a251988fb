/* Signatures (RSA PKCS#1 v1.5 and PSS, ECDSA, Ed25519, ML-DSA) with token
 * keys: hashing in software (RSA, ECDSA), signing in the token, verifying in
 * software. */
#include <cstring>

#include <openssl/core_names.h>
#include <openssl/params.h>

#include "key_data.h"
#include "padding_param.h"
#include "keys/signing.h"

namespace hsmprov {
namespace {

struct SignatureCtx {
  SignatureCtx(ProviderCtx* provider, KeyType type) : provider(provider), type(type) {}
  ProviderCtx* provider;
  KeyType type;
  std::shared_ptr<Key> key;
  SignatureSettings settings;  // digests owned by Software's cache
  std::string md_name;         // the name settings.md was asked for by
  EvpMdCtxPtr digest;

  OSSL_LIB_CTX* libctx() const { return provider->core->software().libctx(); }
};

const PaddingName kPaddings[] = {{"pkcs1", RSA_PKCS1_PADDING}, {"pss", RSA_PKCS1_PSS_PADDING}, {nullptr, 0}};

int saltlen_from(const OSSL_PARAM* p) {
  int saltlen = 0;
  if (p->data_type == OSSL_PARAM_INTEGER && OSSL_PARAM_get_int(p, &saltlen)) return saltlen;
  const char* name = nullptr;
  if (!OSSL_PARAM_get_utf8_string_ptr(p, &name)) fail(HSMPROV_R_INVALID_ARGUMENT, "bad PSS salt length");
  if (std::strcmp(name, "digest") == 0) return RSA_PSS_SALTLEN_DIGEST;
  if (std::strcmp(name, "max") == 0) return RSA_PSS_SALTLEN_MAX;
  if (std::strcmp(name, "auto") == 0) return RSA_PSS_SALTLEN_AUTO;
  char* end = nullptr;
  long value = std::strtol(name, &end, 10);
  if (end == name || *end != '\0' || value < 0 || value > 1024)
    fail(HSMPROV_R_INVALID_ARGUMENT, std::string("bad PSS salt length '") + name + "'");
  return static_cast<int>(value);
}

// ML-DSA's parameters, by OpenSSL 3.5's names (this file also builds against 3.0).
constexpr const char* kContextString = "context-string";
constexpr const char* kDeterministic = "deterministic";
constexpr const char* kMessageEncoding = "message-encoding";
constexpr const char* kMu = "mu";
constexpr const char* kTestEntropy = "test-entropy";

int int_param(const OSSL_PARAM* p, const char* name) {
  int value = 0;
  if (!OSSL_PARAM_get_int(p, &value)) fail(HSMPROV_R_INVALID_ARGUMENT, std::string(name) + " must be a number");
  return value;
}

// The context string and hedging reach the token (CK_SIGN_ADDITIONAL_CONTEXT);
// what PKCS#11 3.2's CKM_ML_DSA has no way to say is refused by name.
void set_ml_dsa_params(SignatureCtx& ctx, const OSSL_PARAM params[]) {
  const OSSL_PARAM* p;
  if ((p = OSSL_PARAM_locate_const(params, kContextString))) {
    const void* data = nullptr;
    size_t size = 0;
    if (!OSSL_PARAM_get_octet_string_ptr(p, &data, &size))
      fail(HSMPROV_R_INVALID_ARGUMENT, "context-string must be a byte string");
    if (size > 255)
      fail(HSMPROV_R_INVALID_ARGUMENT, "context-string: ML-DSA takes 255 bytes at most; this one has " +
                                           std::to_string(size));
    auto* bytes = static_cast<const unsigned char*>(data);
    ctx.settings.context.assign(bytes, bytes + size);
  }
  if ((p = OSSL_PARAM_locate_const(params, kDeterministic))) ctx.settings.deterministic = int_param(p, kDeterministic) != 0;
  if ((p = OSSL_PARAM_locate_const(params, kMessageEncoding)) && int_param(p, kMessageEncoding) != 1)
    fail(HSMPROV_R_UNSUPPORTED, "message-encoding:0 (the message taken as already encoded) is not in PKCS#11 3.2's "
                                "CKM_ML_DSA, which encodes every message with its context: the token cannot do it");
  if ((p = OSSL_PARAM_locate_const(params, kMu)) && int_param(p, kMu) != 0)
    fail(HSMPROV_R_UNSUPPORTED, "mu:1 (signing a mu computed outside the token) is not in PKCS#11 3.2's CKM_ML_DSA: "
                                "the token cannot do it");
  if (OSSL_PARAM_locate_const(params, kTestEntropy) != nullptr)
    fail(HSMPROV_R_UNSUPPORTED, "test-entropy: the token draws its own randomness and takes none from outside");
}

// A context re-initialised for every signature names the same digest each
// time: skip the shared cache (and its lock, which signing threads contend).
void set_md(SignatureCtx& ctx, const char* name) {
  if (ctx.settings.md != nullptr && ctx.md_name == name) return;
  ctx.settings.md = ctx.provider->core->software().digest(name);
  ctx.md_name = name;
}

int set_ctx_params(void* vctx, const OSSL_PARAM params[]) {
  auto* ctx = static_cast<SignatureCtx*>(vctx);
  if (params == nullptr) return 1;
  return guarded(ctx->provider, 0, [&] {
    const OSSL_PARAM* p;
    const char* name = nullptr;
    if ((p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_DIGEST)) && OSSL_PARAM_get_utf8_string_ptr(p, &name))
      set_md(*ctx, name);
    if ((p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PAD_MODE))) ctx->settings.padding = padding_from(p, kPaddings, "RSA signatures");
    if ((p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN))) ctx->settings.saltlen = saltlen_from(p);
    if ((p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST)) &&
        OSSL_PARAM_get_utf8_string_ptr(p, &name))
      ctx->settings.mgf1 = ctx->provider->core->software().digest(name);
    if (is_ml_dsa(ctx->type)) set_ml_dsa_params(*ctx, params);
    return 1;
  });
}

// Tables at namespace scope, not in the templates: one copy each, not one
// per key type (every copy is data the dynamic linker relocates at load).
const OSSL_PARAM settable_params[] = {
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, nullptr, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, nullptr, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, nullptr, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, nullptr, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, nullptr, 0), OSSL_PARAM_END};
// Settable so that they reach us, and what the token cannot do is refused by name.
const OSSL_PARAM ml_dsa_settable_params[] = {
    OSSL_PARAM_octet_string(kContextString, nullptr, 0), OSSL_PARAM_int(kDeterministic, nullptr),
    OSSL_PARAM_int(kMessageEncoding, nullptr), OSSL_PARAM_int(kMu, nullptr),
    OSSL_PARAM_octet_string(kTestEntropy, nullptr, 0), OSSL_PARAM_END};

template <KeyType T>
const OSSL_PARAM* settable_ctx_params(void*, void*) {
  return is_ml_dsa(T) ? ml_dsa_settable_params : settable_params;
}

int get_ctx_params(void* vctx, OSSL_PARAM params[]) {
  auto* ctx = static_cast<SignatureCtx*>(vctx);
  return guarded(ctx->provider, 0, [&] {
    OSSL_PARAM* p;
    if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_ALGORITHM_ID))) {
      if (ctx->key == nullptr) return 0;
      Bytes id = signature_algorithm_id(ctx->type, ctx->settings, ctx->key->public_key());
      if (id.empty()) fail(HSMPROV_R_UNSUPPORTED, "no AlgorithmIdentifier for this signature: choose a digest");
      if (!OSSL_PARAM_set_octet_string(p, id.data(), id.size())) return 0;
    }
    if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST)) && ctx->settings.md &&
        !OSSL_PARAM_set_utf8_string(p, EVP_MD_get0_name(ctx->settings.md)))
      return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PAD_MODE)) &&
        !set_padding(p, ctx->settings.padding, kPaddings))
      return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN)) && p->data_type == OSSL_PARAM_INTEGER &&
        !OSSL_PARAM_set_int(p, ctx->settings.saltlen))
      return 0;
    const EVP_MD* mgf1 = ctx->settings.mgf1 ? ctx->settings.mgf1 : ctx->settings.md;
    if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST)) && mgf1 &&
        !OSSL_PARAM_set_utf8_string(p, EVP_MD_get0_name(mgf1)))
      return 0;
    return 1;
  });
}

const OSSL_PARAM* gettable_ctx_params(void*, void*) {
  static const OSSL_PARAM table[] = {
      OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, nullptr, 0),
      OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, nullptr, 0),
      OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, nullptr, 0),
      OSSL_PARAM_int(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, nullptr),
      OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, nullptr, 0), OSSL_PARAM_END};
  return table;
}

template <KeyType T>
void* newctx(void* provctx, const char*) {
  auto* provider = static_cast<ProviderCtx*>(provctx);
  return guarded(provider, static_cast<void*>(nullptr), [&]() -> void* { return new SignatureCtx(provider, T); });
}

void freectx(void* vctx) { delete static_cast<SignatureCtx*>(vctx); }

void* dupctx(void* vctx) {
  auto* ctx = static_cast<SignatureCtx*>(vctx);
  return guarded(ctx->provider, static_cast<void*>(nullptr), [&]() -> void* {
    auto copy = std::make_unique<SignatureCtx>(ctx->provider, ctx->type);
    copy->key = ctx->key;
    copy->settings = ctx->settings;
    copy->md_name = ctx->md_name;
    if (ctx->digest) {
      copy->digest.reset(EVP_MD_CTX_new());
      if (!copy->digest || !EVP_MD_CTX_copy_ex(copy->digest.get(), ctx->digest.get()))
        fail(HSMPROV_R_INTERNAL, "cannot copy the digest state");
    }
    return copy.release();
  });
}

int init(void* vctx, void* keydata, const OSSL_PARAM params[]) {
  auto* ctx = static_cast<SignatureCtx*>(vctx);
  auto* data = static_cast<KeyData*>(keydata);
  if (data != nullptr) {
    if (data->key == nullptr || data->type != ctx->type) return 0;
    ctx->key = data->key;
  }
  if (ctx->key == nullptr) return 0;
  return set_ctx_params(ctx, params);
}

size_t max_signature_size(const SignatureCtx& ctx) {
  return static_cast<size_t>(EVP_PKEY_get_size(ctx.key->public_key()));
}

int sign(void* vctx, unsigned char* sig, size_t* siglen, size_t sigsize, const unsigned char* tbs, size_t tbslen) {
  auto* ctx = static_cast<SignatureCtx*>(vctx);
  return guarded(ctx->provider, 0, [&] {
    if (sig == nullptr) {
      *siglen = max_signature_size(*ctx);
      return 1;
    }
    Bytes result = ctx->key->in_software() ? sign_in_software(ctx->libctx(), *ctx->key, ctx->settings, tbs, tbslen)
                                           : sign_with_token(*ctx->key, ctx->settings, tbs, tbslen);
    if (result.size() > sigsize) fail(HSMPROV_R_INVALID_ARGUMENT, "the signature buffer is too small");
    std::memcpy(sig, result.data(), result.size());
    *siglen = result.size();
    return 1;
  });
}

int verify(void* vctx, const unsigned char* sig, size_t siglen, const unsigned char* tbs, size_t tbslen) {
  auto* ctx = static_cast<SignatureCtx*>(vctx);
  return guarded(ctx->provider, 0, [&] {
    return verify_in_software(ctx->libctx(), *ctx->key, ctx->settings, sig, siglen, tbs, tbslen) ? 1 : 0;
  });
}

// Ed25519 and ML-DSA sign the message itself, in one shot.
bool signs_messages(KeyType type) { return type == KeyType::ed25519 || is_ml_dsa(type); }

int digest_init(void* vctx, const char* mdname, void* keydata, const OSSL_PARAM params[]) {
  auto* ctx = static_cast<SignatureCtx*>(vctx);
  if (!init(vctx, keydata, params)) return 0;
  return guarded(ctx->provider, 0, [&] {
    if (signs_messages(ctx->type)) {
      if (mdname != nullptr && mdname[0] != '\0')
        fail(HSMPROV_R_INVALID_ARGUMENT, std::string(key_type_name(ctx->type)) + " takes no digest");
      return 1;
    }
    set_md(*ctx, mdname != nullptr && mdname[0] != '\0' ? mdname : "SHA256");
    if (!ctx->digest) ctx->digest.reset(EVP_MD_CTX_new());  // a re-initialised context keeps its own
    if (!ctx->digest || !EVP_DigestInit_ex2(ctx->digest.get(), ctx->settings.md, nullptr))
      fail(HSMPROV_R_INTERNAL, "cannot start the digest");
    return 1;
  });
}

int digest_update(void* vctx, const unsigned char* data, size_t size) {
  auto* ctx = static_cast<SignatureCtx*>(vctx);
  if (!ctx->digest) {
    raise_error(ctx->provider, HSMPROV_R_UNSUPPORTED, "%s signs in one shot only", key_type_name(ctx->type));
    return 0;
  }
  return EVP_DigestUpdate(ctx->digest.get(), data, size);
}

struct Hash {
  unsigned char bytes[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
};

Hash finish_digest(SignatureCtx& ctx) {
  Hash hash;
  if (!EVP_DigestFinal_ex(ctx.digest.get(), hash.bytes, &hash.size)) fail(HSMPROV_R_INTERNAL, "digest failed");
  return hash;
}

int digest_sign_final(void* vctx, unsigned char* sig, size_t* siglen, size_t sigsize) {
  auto* ctx = static_cast<SignatureCtx*>(vctx);
  if (sig == nullptr) return sign(vctx, nullptr, siglen, sigsize, nullptr, 0);
  return guarded(ctx->provider, 0, [&] {
    Hash hash = finish_digest(*ctx);
    return sign(vctx, sig, siglen, sigsize, hash.bytes, hash.size);
  });
}

int digest_verify_final(void* vctx, const unsigned char* sig, size_t siglen) {
  auto* ctx = static_cast<SignatureCtx*>(vctx);
  return guarded(ctx->provider, 0, [&] {
    Hash hash = finish_digest(*ctx);
    return verify(vctx, sig, siglen, hash.bytes, hash.size);
  });
}

int digest_sign(void* vctx, unsigned char* sig, size_t* siglen, size_t sigsize, const unsigned char* tbs,
                size_t tbslen) {
  auto* ctx = static_cast<SignatureCtx*>(vctx);
  if (signs_messages(ctx->type)) return sign(vctx, sig, siglen, sigsize, tbs, tbslen);
  if (sig == nullptr) return sign(vctx, nullptr, siglen, sigsize, nullptr, 0);
  return digest_update(vctx, tbs, tbslen) && digest_sign_final(vctx, sig, siglen, sigsize);
}

int digest_verify(void* vctx, const unsigned char* sig, size_t siglen, const unsigned char* tbs, size_t tbslen) {
  auto* ctx = static_cast<SignatureCtx*>(vctx);
  if (signs_messages(ctx->type)) return verify(vctx, sig, siglen, tbs, tbslen);
  return digest_update(vctx, tbs, tbslen) && digest_verify_final(vctx, sig, siglen);
}

template <KeyType T>
const OSSL_DISPATCH signature_functions[] = {
    HSMPROV_FN(OSSL_FUNC_SIGNATURE_NEWCTX, OSSL_FUNC_signature_newctx_fn, newctx<T>),
    HSMPROV_FN(OSSL_FUNC_SIGNATURE_FREECTX, OSSL_FUNC_signature_freectx_fn, freectx),
    HSMPROV_FN(OSSL_FUNC_SIGNATURE_DUPCTX, OSSL_FUNC_signature_dupctx_fn, dupctx),
    HSMPROV_FN(OSSL_FUNC_SIGNATURE_SIGN_INIT, OSSL_FUNC_signature_sign_init_fn, init),
    HSMPROV_FN(OSSL_FUNC_SIGNATURE_SIGN, OSSL_FUNC_signature_sign_fn, sign),
    HSMPROV_FN(OSSL_FUNC_SIGNATURE_VERIFY_INIT, OSSL_FUNC_signature_verify_init_fn, init),
    HSMPROV_FN(OSSL_FUNC_SIGNATURE_VERIFY, OSSL_FUNC_signature_verify_fn, verify),
    HSMPROV_FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, OSSL_FUNC_signature_digest_sign_init_fn, digest_init),
    HSMPROV_FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, OSSL_FUNC_signature_digest_sign_update_fn, digest_update),
    HSMPROV_FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, OSSL_FUNC_signature_digest_sign_final_fn, digest_sign_final),
    HSMPROV_FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN, OSSL_FUNC_signature_digest_sign_fn, digest_sign),
    HSMPROV_FN(OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT, OSSL_FUNC_signature_digest_verify_init_fn, digest_init),
    HSMPROV_FN(OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE, OSSL_FUNC_signature_digest_verify_update_fn,
               digest_update),
    HSMPROV_FN(OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL, OSSL_FUNC_signature_digest_verify_final_fn,
               digest_verify_final),
    HSMPROV_FN(OSSL_FUNC_SIGNATURE_DIGEST_VERIFY, OSSL_FUNC_signature_digest_verify_fn, digest_verify),
    HSMPROV_FN(OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, OSSL_FUNC_signature_get_ctx_params_fn, get_ctx_params),
    HSMPROV_FN(OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, OSSL_FUNC_signature_gettable_ctx_params_fn,
               gettable_ctx_params),
    HSMPROV_FN(OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, OSSL_FUNC_signature_set_ctx_params_fn, set_ctx_params),
    HSMPROV_FN(OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, OSSL_FUNC_signature_settable_ctx_params_fn,
               settable_ctx_params<T>),
    {0, nullptr}};

}  // namespace

const OSSL_ALGORITHM signature_algorithms[] = {
    {HSMPROV_RSA_OPERATIONS, "provider=hsmprov", signature_functions<KeyType::rsa>, "RSA signatures with token keys"},
    {HSMPROV_ECDSA, "provider=hsmprov", signature_functions<KeyType::ec>, "ECDSA with token keys"},
    {HSMPROV_ED25519, "provider=hsmprov", signature_functions<KeyType::ed25519>, "Ed25519 with token keys"},
#if HSMPROV_WITH_ML_DSA
    {HSMPROV_ML_DSA_44, "provider=hsmprov", signature_functions<KeyType::ml_dsa_44>, "ML-DSA-44 with token keys"},
    {HSMPROV_ML_DSA_65, "provider=hsmprov", signature_functions<KeyType::ml_dsa_65>, "ML-DSA-65 with token keys"},
    {HSMPROV_ML_DSA_87, "provider=hsmprov", signature_functions<KeyType::ml_dsa_87>, "ML-DSA-87 with token keys"},
#endif
    {nullptr, nullptr, nullptr, nullptr}};

}  // namespace hsmprov
