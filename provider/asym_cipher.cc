/* RSA asymmetric cipher with token keys: decryption in the token
 * (PKCS#1 v1.5, OAEP, and the TLS padding mode that decrypts a TLS 1.2
 * premaster secret), encryption in software with the public half, and
 * key wrapping for cloud KMS import: with hsmprov-wrap-target set,
 * "encrypting" under the KMS's public key wraps that token key inside the
 * token instead (src/wrap/). */
#include <cstring>

#include <openssl/core_names.h>
#include <openssl/params.h>

#include "config.h"
#include "key_data.h"
#include "padding_param.h"
#include "keys/rsa_decryption.h"
#include "wrap/byok_format.h"
#include "wrap/key_wrap.h"

namespace hsmprov {
namespace {

struct CipherCtx {
  explicit CipherCtx(ProviderCtx* provider) : provider(provider) {}
  ProviderCtx* provider;
  std::shared_ptr<Key> key;
  DecryptionSettings settings;  // digests owned by Software's cache
  // Key wrapping (all empty unless hsmprov-wrap-target is given).
  std::string wrap_target, wrap_algorithm, wrap_format = "raw", azure_kid;
  bool wrap_legacy = false;
  Bytes wrapped;  // made on the size query, handed out on the next call

  OSSL_LIB_CTX* libctx() const { return provider->core->software().libctx(); }
};

// OpenSSL has no name for its TLS padding mode (libssl sets it by number);
// "pkcs1-tls" is ours, for get_ctx_params.
const PaddingName kPaddings[] = {{"pkcs1", RSA_PKCS1_PADDING},
                                 {"oaep", RSA_PKCS1_OAEP_PADDING},
                                 {"pkcs1-tls", RSA_PKCS1_WITH_TLS_PADDING},
                                 {nullptr, 0}};

unsigned tls_version(const OSSL_PARAM* p) {
  unsigned version = 0;
  if (!OSSL_PARAM_get_uint(p, &version) || version > 0xffff)
    fail(HSMPROV_R_INVALID_ARGUMENT, std::string(p->key) + " must be a TLS protocol version");
  return version;
}

const EVP_MD* digest_named_by(const CipherCtx& ctx, const OSSL_PARAM* p) {
  const char* name = nullptr;
  if (!OSSL_PARAM_get_utf8_string_ptr(p, &name)) fail(HSMPROV_R_INVALID_ARGUMENT, "a digest must be named");
  return ctx.provider->core->software().digest(name);
}

std::string utf8(const OSSL_PARAM* p) {
  const char* value = nullptr;
  if (!OSSL_PARAM_get_utf8_string_ptr(p, &value)) fail(HSMPROV_R_INVALID_ARGUMENT, std::string(p->key) + " is text");
  return value;
}

void set_wrap_params(CipherCtx& ctx, const OSSL_PARAM params[]) {
  const OSSL_PARAM* p;
  if ((p = OSSL_PARAM_locate_const(params, HSMPROV_PARAM_WRAP_TARGET))) ctx.wrap_target = utf8(p);
  if ((p = OSSL_PARAM_locate_const(params, HSMPROV_PARAM_WRAP_ALGORITHM))) ctx.wrap_algorithm = utf8(p);
  if ((p = OSSL_PARAM_locate_const(params, HSMPROV_PARAM_AZURE_KID))) ctx.azure_kid = utf8(p);
  if ((p = OSSL_PARAM_locate_const(params, HSMPROV_PARAM_WRAP_FORMAT))) {
    ctx.wrap_format = utf8(p);
    if (ctx.wrap_format != "raw" && ctx.wrap_format != "azure-byok")
      fail(HSMPROV_R_INVALID_ARGUMENT, HSMPROV_PARAM_WRAP_FORMAT " is raw or azure-byok");
  }
  if ((p = OSSL_PARAM_locate_const(params, HSMPROV_PARAM_WRAP_LEGACY))) {
    std::optional<bool> legacy = boolean_value(utf8(p));
    if (!legacy) fail(HSMPROV_R_INVALID_ARGUMENT, HSMPROV_PARAM_WRAP_LEGACY " is yes or no");
    ctx.wrap_legacy = *legacy;
  }
}

int set_ctx_params(void* vctx, const OSSL_PARAM params[]) {
  auto* ctx = static_cast<CipherCtx*>(vctx);
  if (params == nullptr) return 1;
  return guarded(ctx->provider, 0, [&] {
    set_wrap_params(*ctx, params);
    const OSSL_PARAM* p;
    if ((p = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_PAD_MODE))) ctx->settings.padding = padding_from(p, kPaddings, "RSA encryption and decryption");
    if ((p = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST)))
      ctx->settings.oaep_md = digest_named_by(*ctx, p);
    if ((p = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST)))
      ctx->settings.mgf1 = digest_named_by(*ctx, p);
    if ((p = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION)))
      ctx->settings.tls.client = tls_version(p);
    if ((p = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_TLS_NEGOTIATED_VERSION)))
      ctx->settings.tls.negotiated = tls_version(p);
    if ((p = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL))) {
      const void* label = nullptr;
      size_t size = 0;
      if (!OSSL_PARAM_get_octet_string_ptr(p, &label, &size)) fail(HSMPROV_R_INVALID_ARGUMENT, "bad OAEP label");
      auto* bytes = static_cast<const unsigned char*>(label);
      ctx->settings.label.assign(bytes, bytes + size);
    }
    return 1;
  });
}

const OSSL_PARAM* settable_ctx_params(void*, void*) {
  static const OSSL_PARAM table[] = {
      OSSL_PARAM_utf8_string(HSMPROV_PARAM_WRAP_TARGET, nullptr, 0),
      OSSL_PARAM_utf8_string(HSMPROV_PARAM_WRAP_ALGORITHM, nullptr, 0),
      OSSL_PARAM_utf8_string(HSMPROV_PARAM_WRAP_FORMAT, nullptr, 0),
      OSSL_PARAM_utf8_string(HSMPROV_PARAM_AZURE_KID, nullptr, 0),
      OSSL_PARAM_utf8_string(HSMPROV_PARAM_WRAP_LEGACY, nullptr, 0),
      OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, nullptr, 0),
      OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, nullptr, 0),
      OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, nullptr, 0),
      OSSL_PARAM_octet_string(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, nullptr, 0),
      OSSL_PARAM_uint(OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION, nullptr),
      OSSL_PARAM_uint(OSSL_ASYM_CIPHER_PARAM_TLS_NEGOTIATED_VERSION, nullptr), OSSL_PARAM_END};
  return table;
}

int get_ctx_params(void* vctx, OSSL_PARAM params[]) {
  auto* ctx = static_cast<CipherCtx*>(vctx);
  OSSL_PARAM* p;
  if ((p = OSSL_PARAM_locate(params, OSSL_ASYM_CIPHER_PARAM_PAD_MODE)) &&
      !set_padding(p, ctx->settings.padding, kPaddings))
    return 0;
  if ((p = OSSL_PARAM_locate(params, OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION)) &&
      !OSSL_PARAM_set_uint(p, ctx->settings.tls.client))
    return 0;
  p = OSSL_PARAM_locate(params, OSSL_ASYM_CIPHER_PARAM_TLS_NEGOTIATED_VERSION);
  return p == nullptr || OSSL_PARAM_set_uint(p, ctx->settings.tls.negotiated);
}

const OSSL_PARAM* gettable_ctx_params(void*, void*) {
  static const OSSL_PARAM table[] = {OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, nullptr, 0),
                                     OSSL_PARAM_uint(OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION, nullptr),
                                     OSSL_PARAM_uint(OSSL_ASYM_CIPHER_PARAM_TLS_NEGOTIATED_VERSION, nullptr),
                                     OSSL_PARAM_END};
  return table;
}

void* newctx(void* provctx) {
  auto* provider = static_cast<ProviderCtx*>(provctx);
  return guarded(provider, static_cast<void*>(nullptr), [&]() -> void* { return new CipherCtx(provider); });
}

void freectx(void* vctx) { delete static_cast<CipherCtx*>(vctx); }

int init(void* vctx, void* keydata, const OSSL_PARAM params[]) {
  auto* ctx = static_cast<CipherCtx*>(vctx);
  auto* data = static_cast<KeyData*>(keydata);
  if (data == nullptr || data->key == nullptr || data->type != KeyType::rsa) return 0;
  ctx->key = data->key;
  return set_ctx_params(ctx, params);
}

int copy_out(const Bytes& result, unsigned char* out, size_t* outlen, size_t outsize) {
  if (result.size() > outsize) fail(HSMPROV_R_INVALID_ARGUMENT, "the output buffer is too small");
  std::memcpy(out, result.data(), result.size());
  *outlen = result.size();
  return 1;
}

int decrypt(void* vctx, unsigned char* out, size_t* outlen, size_t outsize, const unsigned char* in, size_t inlen) {
  auto* ctx = static_cast<CipherCtx*>(vctx);
  return guarded(ctx->provider, 0, [&] {
    if (out == nullptr) {
      *outlen = static_cast<size_t>(EVP_PKEY_get_size(ctx->key->public_key()));
      return 1;
    }
    Bytes plain = decrypt_with_token(*ctx->key, ctx->settings, in, inlen);
    int ok = copy_out(plain, out, outlen, outsize);
    OPENSSL_cleanse(plain.data(), plain.size());  // a premaster, a content key: no copy left behind
    return ok;
  });
}

// The wrapped key, in the format asked for.
Bytes wrap(CipherCtx& ctx, size_t inlen) {
  if (inlen != 0)
    fail(HSMPROV_R_INVALID_ARGUMENT, "with " HSMPROV_PARAM_WRAP_TARGET " the key comes from the token: give an empty "
                                     "input (-in /dev/null)");
  auto algorithm = wrap_algorithm(ctx.wrap_algorithm);
  if (!algorithm)
    fail(HSMPROV_R_INVALID_ARGUMENT,
         (ctx.wrap_algorithm.empty() ? std::string("give " HSMPROV_PARAM_WRAP_ALGORITHM)
                                     : "unknown " HSMPROV_PARAM_WRAP_ALGORITHM " '" + ctx.wrap_algorithm + "'") +
             ", one of: " + known_wrap_algorithms());
  if (ctx.wrap_format == "azure-byok" && (ctx.azure_kid.empty() || !algorithm->rsa_aes))
    fail(HSMPROV_R_INVALID_ARGUMENT, "Azure .byok output needs " HSMPROV_PARAM_AZURE_KID " (the key exchange key's "
                                     "id) and RSA_AES_KEY_WRAP_SHA_1");
  Bytes wrapped = wrap_key(*ctx.provider->core, *ctx.key, {ctx.wrap_target, *algorithm, ctx.wrap_legacy}, nullptr);
  if (ctx.wrap_format == "raw") return wrapped;
  std::string json = azure_byok(ctx.azure_kid, wrapped);
  return Bytes(json.begin(), json.end());
}

int encrypt(void* vctx, unsigned char* out, size_t* outlen, size_t outsize, const unsigned char* in, size_t inlen) {
  auto* ctx = static_cast<CipherCtx*>(vctx);
  return guarded(ctx->provider, 0, [&] {
    if (!ctx->wrap_target.empty()) {
      if (ctx->wrapped.empty()) ctx->wrapped = wrap(*ctx, inlen);
      if (out == nullptr) {
        *outlen = ctx->wrapped.size();
        return 1;
      }
      return copy_out(ctx->wrapped, out, outlen, outsize);
    }
    if (out == nullptr) {
      *outlen = static_cast<size_t>(EVP_PKEY_get_size(ctx->key->public_key()));
      return 1;
    }
    return copy_out(encrypt_in_software(ctx->libctx(), *ctx->key, ctx->settings, in, inlen), out, outlen, outsize);
  });
}

const OSSL_DISPATCH asym_cipher_functions[] = {
    HSMPROV_FN(OSSL_FUNC_ASYM_CIPHER_NEWCTX, OSSL_FUNC_asym_cipher_newctx_fn, newctx),
    HSMPROV_FN(OSSL_FUNC_ASYM_CIPHER_FREECTX, OSSL_FUNC_asym_cipher_freectx_fn, freectx),
    HSMPROV_FN(OSSL_FUNC_ASYM_CIPHER_DECRYPT_INIT, OSSL_FUNC_asym_cipher_decrypt_init_fn, init),
    HSMPROV_FN(OSSL_FUNC_ASYM_CIPHER_DECRYPT, OSSL_FUNC_asym_cipher_decrypt_fn, decrypt),
    HSMPROV_FN(OSSL_FUNC_ASYM_CIPHER_ENCRYPT_INIT, OSSL_FUNC_asym_cipher_encrypt_init_fn, init),
    HSMPROV_FN(OSSL_FUNC_ASYM_CIPHER_ENCRYPT, OSSL_FUNC_asym_cipher_encrypt_fn, encrypt),
    HSMPROV_FN(OSSL_FUNC_ASYM_CIPHER_GET_CTX_PARAMS, OSSL_FUNC_asym_cipher_get_ctx_params_fn, get_ctx_params),
    HSMPROV_FN(OSSL_FUNC_ASYM_CIPHER_GETTABLE_CTX_PARAMS, OSSL_FUNC_asym_cipher_gettable_ctx_params_fn,
               gettable_ctx_params),
    HSMPROV_FN(OSSL_FUNC_ASYM_CIPHER_SET_CTX_PARAMS, OSSL_FUNC_asym_cipher_set_ctx_params_fn, set_ctx_params),
    HSMPROV_FN(OSSL_FUNC_ASYM_CIPHER_SETTABLE_CTX_PARAMS, OSSL_FUNC_asym_cipher_settable_ctx_params_fn,
               settable_ctx_params),
    {0, nullptr}};

}  // namespace

const OSSL_ALGORITHM asym_cipher_algorithms[] = {
    {HSMPROV_RSA_OPERATIONS, "provider=hsmprov", asym_cipher_functions, "RSA decryption with token keys"},
    // Under OpenSSL's name too, so that a wrapping key read from a file (a
    // software key) reaches the key wrapping when asked for with
    // -propquery '?provider=hsmprov'.
    {"RSA:rsaEncryption:1.2.840.113549.1.1.1", "provider=hsmprov", asym_cipher_functions,
     "RSA encryption and key wrapping for cloud import"},
    {nullptr, nullptr, nullptr, nullptr}};

}  // namespace hsmprov
