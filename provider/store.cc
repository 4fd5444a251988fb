/* OSSL_STORE for the pkcs11: scheme: lists the keys and certificates a
 * pkcs11: URI selects. Keys are handed out by reference to our keymgmt. */

#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/params.h>
#include <openssl/store.h>

#include "provider.h"

namespace hsmprov {
namespace {

struct StoreCtx {
  StoreCtx(ProviderCtx* provider, Uri uri) : provider(provider), uri(std::move(uri)) {}
  ProviderCtx* provider;
  Uri uri;
  int expect = 0;
  bool searched = false;
  bool failed = false;
  bool failure_seen = false;
  std::vector<Found> found;
  size_t next = 0;
};

bool wanted(const Found& item, int expect) {
  switch (expect) {
    case OSSL_STORE_INFO_PKEY: return item.object_class == CKO_PRIVATE_KEY;
    case OSSL_STORE_INFO_PUBKEY: return item.key != nullptr;
    case OSSL_STORE_INFO_CERT: return item.object_class == CKO_CERTIFICATE;
    case 0: return true;
    default: return false;
  }
}

int yield(const Found& item, OSSL_CALLBACK* object_cb, void* object_cbarg) {
  if (item.key) return pass_key_reference(item.key, item.label, object_cb, object_cbarg);
  int type = OSSL_OBJECT_CERT;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &type),
      OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA, const_cast<unsigned char*>(item.certificate.data()),
                                        item.certificate.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DESC, const_cast<char*>(item.label.c_str()), 0),
      OSSL_PARAM_construct_end()};
  return object_cb(params, object_cbarg);
}

void* store_open(void* provctx, const char* uri) {
  auto* provider = static_cast<ProviderCtx*>(provctx);
  return guarded(provider, static_cast<void*>(nullptr), [&]() -> void* {
    return new StoreCtx(provider, Uri::parse(uri));
  });
}

int store_set_ctx_params(void* loaderctx, const OSSL_PARAM params[]) {
  return store_expect_from(params, &static_cast<StoreCtx*>(loaderctx)->expect);
}

int store_load(void* loaderctx, OSSL_CALLBACK* object_cb, void* object_cbarg, OSSL_PASSPHRASE_CALLBACK* pw_cb,
               void* pw_cbarg) {
  auto* ctx = static_cast<StoreCtx*>(loaderctx);
  return guarded(ctx->provider, 0, [&] {
    if (ctx->failed) {
      ctx->failure_seen = true;  // see store_eof()
      return 0;
    }
    if (!ctx->searched) {
      ctx->searched = true;
      ctx->failed = true;  // until the search returns
      ctx->found = ctx->provider->core->find(ctx->uri, pin_prompt(pw_cb, pw_cbarg));
      ctx->failed = false;
    }
    while (ctx->next < ctx->found.size() && !wanted(ctx->found[ctx->next], ctx->expect)) ++ctx->next;
    if (ctx->next == ctx->found.size()) return 0;
    return yield(ctx->found[ctx->next++], object_cb, object_cbarg);
  });
}

// After a failed search, OSSL_STORE counts the failure as an error only if
// we are not at the end yet; so the end comes when a caller loads once more
// after the failure, and the error reaches the exit status of storeutl.
int store_eof(void* loaderctx) {
  auto* ctx = static_cast<StoreCtx*>(loaderctx);
  if (ctx->failed) return ctx->failure_seen;
  if (!ctx->searched) return 0;
  size_t next = ctx->next;
  while (next < ctx->found.size() && !wanted(ctx->found[next], ctx->expect)) ++next;
  return next == ctx->found.size();
}

int store_close(void* loaderctx) {
  delete static_cast<StoreCtx*>(loaderctx);
  return 1;
}

const OSSL_DISPATCH store_functions[] = {
    HSMPROV_FN(OSSL_FUNC_STORE_OPEN, OSSL_FUNC_store_open_fn, store_open),
    HSMPROV_FN(OSSL_FUNC_STORE_SETTABLE_CTX_PARAMS, OSSL_FUNC_store_settable_ctx_params_fn, store_settable_ctx_params),
    HSMPROV_FN(OSSL_FUNC_STORE_SET_CTX_PARAMS, OSSL_FUNC_store_set_ctx_params_fn, store_set_ctx_params),
    HSMPROV_FN(OSSL_FUNC_STORE_LOAD, OSSL_FUNC_store_load_fn, store_load),
    HSMPROV_FN(OSSL_FUNC_STORE_EOF, OSSL_FUNC_store_eof_fn, store_eof),
    HSMPROV_FN(OSSL_FUNC_STORE_CLOSE, OSSL_FUNC_store_close_fn, store_close),
    {0, nullptr}};

}  // namespace

const OSSL_ALGORITHM store_algorithms[] = {
    {"pkcs11", "provider=hsmprov", store_functions, "PKCS#11 tokens by RFC 7512 URI"},
    {"pkc", "provider=hsmprov", pkc_store_functions, "Luna key attestation (PKC) files"},
    {nullptr, nullptr, nullptr, nullptr}};

}  // namespace hsmprov
