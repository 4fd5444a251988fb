/* OSSL_STORE for the pkc: scheme (pkc:PATH): a Luna PKC file becomes its
 * certificates, leaf first (an ECC leaf with its signature re-encoded as
 * DER), then the attested public key. The structure rules run when the
 * store opens; a file that breaks one does not open. */
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/params.h>
#include <openssl/store.h>
#include <openssl/x509.h>

#include "attest/luna_pkc.h"
#include "file_bytes.h"
#include "provider.h"

namespace hsmprov {
namespace {

struct PkcObject {
  int type;            // OSSL_OBJECT_CERT or OSSL_OBJECT_PKEY
  Bytes der;           // certificate, or SubjectPublicKeyInfo
  std::string key_type;
};

struct PkcStoreCtx {
  ProviderCtx* provider;
  std::vector<PkcObject> objects;
  size_t next = 0;
  int expect = 0;
};

Bytes read_pkc_file(const std::string& path) {
  auto bytes = read_file(path);
  if (!bytes) fail(HSMPROV_R_NOT_FOUND, "cannot read the PKC file '" + path + "'");
  return *bytes;
}

std::vector<PkcObject> objects_of(const pkc::Pkc& pkc) {
  std::vector<PkcObject> objects;
  for (const pkc::Certificate& c : pkc.chain) objects.push_back({OSSL_OBJECT_CERT, c.der, ""});
  objects.push_back({OSSL_OBJECT_PKEY, pkc::attested_key_der(pkc), EVP_PKEY_get0_type_name(pkc::attested_key(pkc))});
  return objects;
}

bool wanted(const PkcObject& object, int expect) {
  if (expect == 0) return true;
  if (object.type == OSSL_OBJECT_CERT) return expect == OSSL_STORE_INFO_CERT;
  return expect == OSSL_STORE_INFO_PUBKEY;
}

void skip_unwanted(PkcStoreCtx& ctx) {
  while (ctx.next < ctx.objects.size() && !wanted(ctx.objects[ctx.next], ctx.expect)) ++ctx.next;
}

void* open(void* provctx, const char* uri) {
  auto* provider = static_cast<ProviderCtx*>(provctx);
  return guarded(provider, static_cast<void*>(nullptr), [&]() -> void* {
    std::string path(uri);
    if (path.rfind("pkc:", 0) != 0) fail(HSMPROV_R_INVALID_ARGUMENT, "not a pkc: URI");
    std::vector<PkcObject> objects = objects_of(pkc::parse(read_pkc_file(path.substr(4))));
    return new PkcStoreCtx{provider, std::move(objects)};
  });
}

int set_ctx_params(void* loaderctx, const OSSL_PARAM params[]) {
  return store_expect_from(params, &static_cast<PkcStoreCtx*>(loaderctx)->expect);
}

int load(void* loaderctx, OSSL_CALLBACK* object_cb, void* object_cbarg, OSSL_PASSPHRASE_CALLBACK*, void*) {
  auto* ctx = static_cast<PkcStoreCtx*>(loaderctx);
  skip_unwanted(*ctx);
  if (ctx->next == ctx->objects.size()) return 0;
  PkcObject& object = ctx->objects[ctx->next++];
  OSSL_PARAM params[5];
  OSSL_PARAM* p = params;
  *p++ = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &object.type);
  *p++ = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA, object.der.data(), object.der.size());
  if (object.type == OSSL_OBJECT_PKEY) {
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE, const_cast<char*>(object.key_type.c_str()), 0);
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_STRUCTURE,
                                            const_cast<char*>("SubjectPublicKeyInfo"), 0);
  }
  *p = OSSL_PARAM_construct_end();
  return object_cb(params, object_cbarg);
}

int eof(void* loaderctx) {
  auto* ctx = static_cast<PkcStoreCtx*>(loaderctx);
  skip_unwanted(*ctx);
  return ctx->next == ctx->objects.size();
}

int close(void* loaderctx) {
  delete static_cast<PkcStoreCtx*>(loaderctx);
  return 1;
}

}  // namespace

const OSSL_DISPATCH pkc_store_functions[] = {
    HSMPROV_FN(OSSL_FUNC_STORE_OPEN, OSSL_FUNC_store_open_fn, open),
    HSMPROV_FN(OSSL_FUNC_STORE_SETTABLE_CTX_PARAMS, OSSL_FUNC_store_settable_ctx_params_fn, store_settable_ctx_params),
    HSMPROV_FN(OSSL_FUNC_STORE_SET_CTX_PARAMS, OSSL_FUNC_store_set_ctx_params_fn, set_ctx_params),
    HSMPROV_FN(OSSL_FUNC_STORE_LOAD, OSSL_FUNC_store_load_fn, load),
    HSMPROV_FN(OSSL_FUNC_STORE_EOF, OSSL_FUNC_store_eof_fn, eof),
    HSMPROV_FN(OSSL_FUNC_STORE_CLOSE, OSSL_FUNC_store_close_fn, close),
    {0, nullptr}};

}  // namespace hsmprov
