/* Key management for token keys (RSA, EC, ED25519, ML-DSA): loading by
 * store reference, public-key export and import, comparison, and
 * generation on the token. Private key material is never exported. */
#include <cstring>

#include <openssl/core_names.h>
#include <openssl/params.h>

#include "key_data.h"
#include "keys/key_generation.h"

namespace hsmprov {
namespace {

bool has_private_values(const OSSL_PARAM params[]) {
  return OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_D) != nullptr ||
         OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_PRIV_KEY) != nullptr ||
         OSSL_PARAM_locate_const(params, "seed") != nullptr;  // ML-DSA's OSSL_PKEY_PARAM_ML_DSA_SEED (OpenSSL 3.5)
}

template <KeyType T>
void* keymgmt_new(void* provctx) {
  auto* provider = static_cast<ProviderCtx*>(provctx);
  return guarded(provider, static_cast<void*>(nullptr), [&]() -> void* { return new KeyData{provider, T, nullptr}; });
}

void keymgmt_free(void* keydata) { delete static_cast<KeyData*>(keydata); }

void* keymgmt_load(const void* reference, size_t reference_size) {
  if (reference == nullptr || reference_size != sizeof(std::shared_ptr<Key>*)) return nullptr;
  // The reference is the address of a shared_ptr<Key> held by our store or
  // decoder for the duration of the callback that brings us here.
  auto* source = static_cast<const std::shared_ptr<Key>*>(reference);
  try {
    return new KeyData{nullptr, (*source)->type(), *source};
  } catch (...) {
    return nullptr;
  }
}

int keymgmt_has(const void* keydata, int selection) {
  auto* data = static_cast<const KeyData*>(keydata);
  if (data == nullptr || data->key == nullptr) return selection == 0;
  if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) && !data->key->has_private()) return 0;
  return 1;
}

int keymgmt_get_params(void* keydata, OSSL_PARAM params[]) {
  auto* data = static_cast<KeyData*>(keydata);
  if (data->key == nullptr) return 0;
  if (data->key->has_private() && !data->key->in_software() && has_private_values(params))
    data->key->note_refused_export();
  // Everything asked of a token key is a property of its public half.
  return EVP_PKEY_get_params(data->key->public_key(), params);
}

// The tables at namespace scope, not in the templates: one copy each, not
// one per key type (every copy is data the dynamic linker relocates at load).
const OSSL_PARAM rsa_gettable[] = {
    OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, nullptr), OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, nullptr),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, nullptr), OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, nullptr, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, nullptr, 0), OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, nullptr, 0),
    OSSL_PARAM_END};
const OSSL_PARAM ec_gettable[] = {
    OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, nullptr), OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, nullptr),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, nullptr), OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, nullptr, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, nullptr, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, nullptr, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, nullptr, 0), OSSL_PARAM_END};
const OSSL_PARAM other_gettable[] = {  // Ed25519 and ML-DSA
    OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, nullptr), OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, nullptr),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, nullptr), OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, nullptr, 0),
    OSSL_PARAM_END};

template <KeyType T>
const OSSL_PARAM* keymgmt_gettable_params(void*) {
  return T == KeyType::rsa ? rsa_gettable : T == KeyType::ec ? ec_gettable : other_gettable;
}

const OSSL_PARAM rsa_key_types[] = {OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, nullptr, 0),
                                    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, nullptr, 0), OSSL_PARAM_END};
const OSSL_PARAM ec_key_types[] = {OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, nullptr, 0),
                                   OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, nullptr, 0), OSSL_PARAM_END};
const OSSL_PARAM other_key_types[] = {OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, nullptr, 0), OSSL_PARAM_END};

template <KeyType T>
const OSSL_PARAM* keymgmt_key_types(int) {
  return T == KeyType::rsa ? rsa_key_types : T == KeyType::ec ? ec_key_types : other_key_types;
}

int keymgmt_export(void* keydata, int selection, OSSL_CALLBACK* param_cb, void* cbarg) {
  auto* data = static_cast<KeyData*>(keydata);
  if (data->key == nullptr) return 0;
  // A key in software goes out as it came in.
  if (data->key->in_software()) return EVP_PKEY_export(data->key->public_key(), selection, param_cb, cbarg);
  // Refused without an error entry: OpenSSL asks this on every operation
  // it first tries in another provider, and moves on to ours when it fails.
  // Where a user asks for the private key, our encoders say why it fails.
  if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) && data->key->has_private()) {
    data->key->note_refused_export();
    return 0;
  }
  return EVP_PKEY_export(data->key->public_key(), selection & ~OSSL_KEYMGMT_SELECT_PRIVATE_KEY, param_cb, cbarg);
}

// Import makes a key that lives in software (Key::from_software): a public
// key OpenSSL compares with a token key, or a key of the program's own that
// OpenSSL handed to us. Nothing is put into a token this way.
template <KeyType T>
int keymgmt_import(void* keydata, int, const OSSL_PARAM params[]) {
  auto* data = static_cast<KeyData*>(keydata);
  return guarded(data->provider, 0, [&] {
    bool with_private = has_private_values(params);
    OSSL_LIB_CTX* libctx = data->provider->core->software().libctx();
    EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(libctx, key_type_name(T), nullptr));
    EVP_PKEY* pkey = nullptr;
    if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
        EVP_PKEY_fromdata(ctx.get(), &pkey, with_private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
                          const_cast<OSSL_PARAM*>(params)) <= 0)
      fail(HSMPROV_R_INVALID_ARGUMENT, std::string("the ") + key_type_name(T) + " key to import is not valid");
    data->key = Key::from_software(T, EvpPkeyPtr(pkey), with_private);
    return 1;
  });
}

int keymgmt_match(const void* keydata1, const void* keydata2, int) {
  auto* a = static_cast<const KeyData*>(keydata1);
  auto* b = static_cast<const KeyData*>(keydata2);
  if (a->key == nullptr || b->key == nullptr) return 0;
  return EVP_PKEY_eq(a->key->public_key(), b->key->public_key()) == 1;
}

// Our signature and cipher implementations have names of their own, so that
// OpenSSL goes to them straight away for token keys instead of first trying
// (and failing) to export the key to another provider on every operation.
template <KeyType T>
const char* keymgmt_query_operation_name(int) {
  switch (T) {
    case KeyType::rsa: return HSMPROV_RSA_OPERATIONS;
    case KeyType::ec: return HSMPROV_ECDSA;
    case KeyType::ed25519: return HSMPROV_ED25519;
    case KeyType::ml_dsa_44: return HSMPROV_ML_DSA_44;
    case KeyType::ml_dsa_65: return HSMPROV_ML_DSA_65;
    case KeyType::ml_dsa_87: return HSMPROV_ML_DSA_87;
  }
  return nullptr;
}

/* Key generation on the token. */

struct GenCtx {
  ProviderCtx* provider;
  KeySpec spec;
  ~GenCtx() { wipe(spec.uri); }  // the URI may hold a pin-value
};

template <KeyType T>
void* keymgmt_gen_init(void* provctx, int, const OSSL_PARAM params[]);

int keymgmt_gen_set_params(void* genctx, const OSSL_PARAM params[]) {
  auto* ctx = static_cast<GenCtx*>(genctx);
  return guarded(ctx->provider, 0, [&] {
    const OSSL_PARAM* p;
    if ((p = OSSL_PARAM_locate_const(params, HSMPROV_PARAM_PKCS11_URI))) {
      const char* uri = nullptr;
      if (!OSSL_PARAM_get_utf8_string_ptr(p, &uri)) fail(HSMPROV_R_INVALID_ARGUMENT, "pkcs11_uri must be a string");
      wipe(ctx->spec.uri);
      ctx->spec.uri = uri;
    }
    if ((p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_BITS)) && !OSSL_PARAM_get_size_t(p, &ctx->spec.bits))
      fail(HSMPROV_R_INVALID_ARGUMENT, "bits must be a number");
    if ((p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_E))) {
      BIGNUM* e = nullptr;
      if (!OSSL_PARAM_get_BN(p, &e)) fail(HSMPROV_R_INVALID_ARGUMENT, "the public exponent must be a number");
      ctx->spec.public_exponent.resize(static_cast<size_t>(BN_num_bytes(e)));
      BN_bn2bin(e, ctx->spec.public_exponent.data());
      BN_free(e);
    }
    if ((p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_GROUP_NAME))) {
      const char* curve = nullptr;
      if (!OSSL_PARAM_get_utf8_string_ptr(p, &curve)) fail(HSMPROV_R_INVALID_ARGUMENT, "the curve must be a name");
      ctx->spec.curve = curve;
    }
    return 1;
  });
}

template <KeyType T>
void* keymgmt_gen_init(void* provctx, int, const OSSL_PARAM params[]) {
  auto* provider = static_cast<ProviderCtx*>(provctx);
  auto* ctx = new (std::nothrow) GenCtx{provider, KeySpec{}};
  if (ctx == nullptr) return nullptr;
  ctx->spec.type = T;
  if (params != nullptr && !keymgmt_gen_set_params(ctx, params)) {
    delete ctx;
    return nullptr;
  }
  return ctx;
}

const OSSL_PARAM rsa_gen_settable[] = {OSSL_PARAM_utf8_string(HSMPROV_PARAM_PKCS11_URI, nullptr, 0),
                                       OSSL_PARAM_size_t(OSSL_PKEY_PARAM_RSA_BITS, nullptr),
                                       OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, nullptr, 0), OSSL_PARAM_END};
const OSSL_PARAM ec_gen_settable[] = {OSSL_PARAM_utf8_string(HSMPROV_PARAM_PKCS11_URI, nullptr, 0),
                                      OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, nullptr, 0), OSSL_PARAM_END};
const OSSL_PARAM other_gen_settable[] = {OSSL_PARAM_utf8_string(HSMPROV_PARAM_PKCS11_URI, nullptr, 0), OSSL_PARAM_END};

template <KeyType T>
const OSSL_PARAM* keymgmt_gen_settable_params(void*, void*) {
  return T == KeyType::rsa ? rsa_gen_settable : T == KeyType::ec ? ec_gen_settable : other_gen_settable;
}

void* keymgmt_gen(void* genctx, OSSL_CALLBACK*, void*) {
  auto* ctx = static_cast<GenCtx*>(genctx);
  return guarded(ctx->provider, static_cast<void*>(nullptr), [&]() -> void* {
    if (ctx->spec.type == KeyType::ec && ctx->spec.curve.empty())
      fail(HSMPROV_R_INVALID_ARGUMENT, "EC key generation needs a curve: -pkeyopt ec_paramgen_curve:P-256");
    auto key = generate_key(*ctx->provider->core, ctx->spec, nullptr);
    return new KeyData{ctx->provider, ctx->spec.type, key};
  });
}

void keymgmt_gen_cleanup(void* genctx) { delete static_cast<GenCtx*>(genctx); }

template <KeyType T>
const OSSL_DISPATCH keymgmt_functions[] = {
    HSMPROV_FN(OSSL_FUNC_KEYMGMT_NEW, OSSL_FUNC_keymgmt_new_fn, keymgmt_new<T>),
    HSMPROV_FN(OSSL_FUNC_KEYMGMT_FREE, OSSL_FUNC_keymgmt_free_fn, keymgmt_free),
    HSMPROV_FN(OSSL_FUNC_KEYMGMT_LOAD, OSSL_FUNC_keymgmt_load_fn, keymgmt_load),
    HSMPROV_FN(OSSL_FUNC_KEYMGMT_HAS, OSSL_FUNC_keymgmt_has_fn, keymgmt_has),
    HSMPROV_FN(OSSL_FUNC_KEYMGMT_GET_PARAMS, OSSL_FUNC_keymgmt_get_params_fn, keymgmt_get_params),
    HSMPROV_FN(OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, OSSL_FUNC_keymgmt_gettable_params_fn, keymgmt_gettable_params<T>),
    HSMPROV_FN(OSSL_FUNC_KEYMGMT_EXPORT, OSSL_FUNC_keymgmt_export_fn, keymgmt_export),
    HSMPROV_FN(OSSL_FUNC_KEYMGMT_EXPORT_TYPES, OSSL_FUNC_keymgmt_export_types_fn, keymgmt_key_types<T>),
    HSMPROV_FN(OSSL_FUNC_KEYMGMT_IMPORT, OSSL_FUNC_keymgmt_import_fn, keymgmt_import<T>),
    HSMPROV_FN(OSSL_FUNC_KEYMGMT_IMPORT_TYPES, OSSL_FUNC_keymgmt_import_types_fn, keymgmt_key_types<T>),
    HSMPROV_FN(OSSL_FUNC_KEYMGMT_MATCH, OSSL_FUNC_keymgmt_match_fn, keymgmt_match),
    HSMPROV_FN(OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, OSSL_FUNC_keymgmt_query_operation_name_fn,
               keymgmt_query_operation_name<T>),
    HSMPROV_FN(OSSL_FUNC_KEYMGMT_GEN_INIT, OSSL_FUNC_keymgmt_gen_init_fn, keymgmt_gen_init<T>),
    HSMPROV_FN(OSSL_FUNC_KEYMGMT_GEN_SET_PARAMS, OSSL_FUNC_keymgmt_gen_set_params_fn, keymgmt_gen_set_params),
    HSMPROV_FN(OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS, OSSL_FUNC_keymgmt_gen_settable_params_fn,
               keymgmt_gen_settable_params<T>),
    HSMPROV_FN(OSSL_FUNC_KEYMGMT_GEN, OSSL_FUNC_keymgmt_gen_fn, keymgmt_gen),
    HSMPROV_FN(OSSL_FUNC_KEYMGMT_GEN_CLEANUP, OSSL_FUNC_keymgmt_gen_cleanup_fn, keymgmt_gen_cleanup),
    {0, nullptr}};

}  // namespace

const OSSL_ALGORITHM keymgmt_algorithms[] = {
    {"RSA:rsaEncryption:1.2.840.113549.1.1.1", "provider=hsmprov", keymgmt_functions<KeyType::rsa>, "token RSA keys"},
    {"EC:id-ecPublicKey:1.2.840.10045.2.1", "provider=hsmprov", keymgmt_functions<KeyType::ec>, "token EC keys"},
    {"ED25519:1.3.101.112", "provider=hsmprov", keymgmt_functions<KeyType::ed25519>, "token Ed25519 keys"},
    // Before OpenSSL 3.5 these only say that ML-DSA needs it (key generation, keys found).
    {HSMPROV_ML_DSA_44_NAMES, "provider=hsmprov", keymgmt_functions<KeyType::ml_dsa_44>, "token ML-DSA-44 keys"},
    {HSMPROV_ML_DSA_65_NAMES, "provider=hsmprov", keymgmt_functions<KeyType::ml_dsa_65>, "token ML-DSA-65 keys"},
    {HSMPROV_ML_DSA_87_NAMES, "provider=hsmprov", keymgmt_functions<KeyType::ml_dsa_87>, "token ML-DSA-87 keys"},
    {nullptr, nullptr, nullptr, nullptr}};

}  // namespace hsmprov
