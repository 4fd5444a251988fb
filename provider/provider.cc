/* OSSL_provider_init: sets up the core, which reads and checks the config
 * and loads the PKCS#11 module on first use (both here with
 * pkcs11-module-load-behavior = early), and answers OpenSSL's queries for
 * algorithms, parameters and reason strings. */
#include "provider.h"

#include <cstdio>
#include <cstring>

#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/store.h>

#include "config.h"
#include "log.h"

namespace hsmprov {

// Every error also goes to the debug log, where it can be seen whatever
// OpenSSL does with the queue (its decoders drop the errors of all but the
// first decoder of a chain: decoder.cc raises those again).
void raise_error(const ProviderCtx* ctx, int reason, const char* format, ...) {
  va_list args;
  if (log::level() >= 1) {
    char text[1024];
    va_start(args, format);
    std::vsnprintf(text, sizeof text, format, args);
    va_end(args);
    log::write(1, std::string("error: ") + text);
  }
  if (ctx == nullptr || ctx->new_error == nullptr) return;
  ctx->new_error(ctx->handle);
  ctx->set_error_debug(ctx->handle, nullptr, 0, nullptr);
  va_start(args, format);
  ctx->vset_error(ctx->handle, static_cast<uint32_t>(reason), format, args);
  va_end(args);
}

BioPtr ProviderCtx::bio_for(OSSL_CORE_BIO* in) {
  CoreBioContext& context = core_bio_context.get([this] {
    OSSL_LIB_CTX* libctx = OSSL_LIB_CTX_new_from_dispatch(handle, core_functions);
    if (libctx == nullptr) fail(HSMPROV_R_INTERNAL, "cannot make a library context for reading input");
    return std::make_unique<CoreBioContext>(libctx);
  });
  BioPtr bio(BIO_new_from_core_bio(context.libctx, in));
  if (!bio) fail(HSMPROV_R_INTERNAL, "cannot read the input");
  return bio;
}

PinPrompt pin_prompt(OSSL_PASSPHRASE_CALLBACK* pw_cb, void* pw_cbarg) {
  if (pw_cb == nullptr) return nullptr;
  return [pw_cb, pw_cbarg](const std::string& token_where) -> std::optional<Pin> {
    std::string info = "PKCS#11 " + token_where;
    OSSL_PARAM params[] = {
        OSSL_PARAM_utf8_string(OSSL_PASSPHRASE_PARAM_INFO, const_cast<char*>(info.c_str()), 0), OSSL_PARAM_END};
    char buffer[256];
    size_t size = 0;
    if (!pw_cb(buffer, sizeof buffer, &size, params, pw_cbarg)) return std::nullopt;
    // Straight into the locked page: a std::string on the way would be a
    // copy freed unwiped.
    std::optional<Pin> pin;
    try {
      pin = Pin(buffer, size < sizeof buffer ? size : sizeof buffer);
    } catch (...) {
      OPENSSL_cleanse(buffer, sizeof buffer);
      throw;
    }
    OPENSSL_cleanse(buffer, sizeof buffer);
    return pin;
  };
}

int pass_key_reference(const std::shared_ptr<Key>& key, const std::string& description, OSSL_CALLBACK* object_cb,
                       void* object_cbarg) {
  int type = OSSL_OBJECT_PKEY;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &type),
      OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE, const_cast<char*>(key_type_name(key->type())), 0),
      OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_REFERENCE, const_cast<std::shared_ptr<Key>*>(&key),
                                        sizeof(std::shared_ptr<Key>*)),
      OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DESC, const_cast<char*>(description.c_str()), 0),
      OSSL_PARAM_construct_end()};
  return object_cb(params, object_cbarg);
}

const OSSL_PARAM* store_settable_ctx_params(void*) {
  static const OSSL_PARAM table[] = {OSSL_PARAM_int(OSSL_STORE_PARAM_EXPECT, nullptr), OSSL_PARAM_END};
  return table;
}

int store_expect_from(const OSSL_PARAM params[], int* expect) {
  const OSSL_PARAM* p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_EXPECT);
  return p == nullptr || OSSL_PARAM_get_int(p, expect);
}

namespace {

const OSSL_ITEM reason_strings[] = {
    {HSMPROV_R_CONFIG, const_cast<char*>("invalid provider configuration")},
    {HSMPROV_R_MODULE, const_cast<char*>("cannot load the PKCS#11 module")},
    {HSMPROV_R_PKCS11, const_cast<char*>("PKCS#11 call failed")},
    {HSMPROV_R_URI, const_cast<char*>("invalid pkcs11 URI")},
    {HSMPROV_R_NOT_FOUND, const_cast<char*>("not found")},
    {HSMPROV_R_AMBIGUOUS, const_cast<char*>("ambiguous pkcs11 URI")},
    {HSMPROV_R_PIN, const_cast<char*>("PIN not available")},
    {HSMPROV_R_UNSUPPORTED, const_cast<char*>("not supported")},
    {HSMPROV_R_KEY_IN_TOKEN, const_cast<char*>("private key material stays in the token")},
    {HSMPROV_R_INVALID_ARGUMENT, const_cast<char*>("invalid argument")},
    {HSMPROV_R_INTERNAL, const_cast<char*>("internal error")},
    {HSMPROV_R_EXISTS, const_cast<char*>("object already exists")},
    {HSMPROV_R_LIBRARY, const_cast<char*>("cannot load a library hsmprov needs")},
    {0, nullptr}};

const OSSL_PARAM* gettable_params(void*) {
  static const OSSL_PARAM table[] = {
      OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_NAME, nullptr, 0), OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_VERSION, nullptr, 0),
      OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_BUILDINFO, nullptr, 0), OSSL_PARAM_int(OSSL_PROV_PARAM_STATUS, nullptr),
      OSSL_PARAM_END};
  return table;
}

int get_params(void*, OSSL_PARAM params[]) {
  OSSL_PARAM* p;
  if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME)) && !OSSL_PARAM_set_utf8_ptr(p, "hsmprov PKCS#11 provider"))
    return 0;
  if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION)) && !OSSL_PARAM_set_utf8_ptr(p, HSMPROV_VERSION))
    return 0;
  if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_BUILDINFO)) && !OSSL_PARAM_set_utf8_ptr(p, HSMPROV_VERSION))
    return 0;
  if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS)) && !OSSL_PARAM_set_int(p, 1)) return 0;
  return 1;
}

const OSSL_ALGORITHM* query_operation(void*, int operation_id, int* no_cache) {
  *no_cache = 0;
  switch (operation_id) {
    case OSSL_OP_STORE: return store_algorithms;
    case OSSL_OP_KEYMGMT: return keymgmt_algorithms;
    case OSSL_OP_SIGNATURE: return signature_algorithms;
    case OSSL_OP_ASYM_CIPHER: return asym_cipher_algorithms;
    case OSSL_OP_ENCODER: return encoder_algorithms;
    case OSSL_OP_DECODER: return decoder_algorithms;
    default: return nullptr;
  }
}

const OSSL_ITEM* get_reason_strings(void*) { return reason_strings; }

void teardown(void* provctx) {
  auto* ctx = static_cast<ProviderCtx*>(provctx);
  // At exit, leave the module and its sessions to the process: see
  // process_is_exiting(). Asked only when there is a module: that function
  // is the one page of code a program that never used hsmprov would fault
  // in at exit for nothing.
  if (ctx->core->module_loaded() && process_is_exiting()) (void)ctx->core.release();
  delete ctx;
}

const OSSL_DISPATCH provider_functions[] = {
    {OSSL_FUNC_PROVIDER_TEARDOWN, reinterpret_cast<void (*)()>(teardown)},
    {OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, reinterpret_cast<void (*)()>(gettable_params)},
    {OSSL_FUNC_PROVIDER_GET_PARAMS, reinterpret_cast<void (*)()>(get_params)},
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, reinterpret_cast<void (*)()>(query_operation)},
    {OSSL_FUNC_PROVIDER_GET_REASON_STRINGS, reinterpret_cast<void (*)()>(get_reason_strings)},
    {0, nullptr}};

void take_core_functions(ProviderCtx& ctx, const OSSL_DISPATCH* in, OSSL_FUNC_core_get_params_fn** get_params) {
  for (; in->function_id != 0; ++in) {
    switch (in->function_id) {
      case OSSL_FUNC_CORE_GET_PARAMS: *get_params = OSSL_FUNC_core_get_params(in); break;
      case OSSL_FUNC_CORE_NEW_ERROR: ctx.new_error = OSSL_FUNC_core_new_error(in); break;
      case OSSL_FUNC_CORE_SET_ERROR_DEBUG: ctx.set_error_debug = OSSL_FUNC_core_set_error_debug(in); break;
      case OSSL_FUNC_CORE_VSET_ERROR: ctx.vset_error = OSSL_FUNC_core_vset_error(in); break;
      case OSSL_FUNC_BIO_READ_EX: ctx.bio_read_ex = OSSL_FUNC_BIO_read_ex(in); break;
      case OSSL_FUNC_BIO_WRITE_EX: ctx.bio_write_ex = OSSL_FUNC_BIO_write_ex(in); break;
      default: break;
    }
  }
}

// The value OpenSSL's core holds for `key` in our config section, or nullptr.
// It points into OpenSSL's own copy of the config, which hsmprov cannot wipe.
const char* core_value(const OSSL_CORE_HANDLE* handle, OSSL_FUNC_core_get_params_fn* core_get_params,
                       const char* key) {
  const char* value = nullptr;
  OSSL_PARAM param[] = {OSSL_PARAM_utf8_ptr(key, &value, 0), OSSL_PARAM_END};
  return core_get_params(handle, param) ? value : nullptr;
}

// Our config section, read through the core when it is first needed: hsmprov
// keeps no copy of its values (a literal PIN among them) until they are
// parsed, the PIN into its locked page. ConfigValues wipes what it held.
Config read_config(const OSSL_CORE_HANDLE* handle, OSSL_FUNC_core_get_params_fn* core_get_params) {
  const char* name = core_value(handle, core_get_params, OSSL_PROV_PARAM_CORE_PROV_NAME);
  ConfigValues from_core;
  for (const char* const* key = config_keys(); *key != nullptr; ++key)
    if (const char* value = core_value(handle, core_get_params, *key)) from_core.set(*key, value);
  return config_from(std::move(from_core), name ? name : HSMPROV_NAME, HSMPROV_DEFAULT_MODULE);
}

// The config is checked on first use, not at load: a section hsmprov cannot
// follow (an unknown key, a bad value) then costs a program that never uses
// hsmprov nothing, neither the time to read the file again nor a word on
// stderr, and the first use fails with the reason. Only an early load
// (pkcs11-module-load-behavior = early) checks it, and loads the module, now.
std::unique_ptr<Core> make_core(const OSSL_CORE_HANDLE* handle, OSSL_FUNC_core_get_params_fn* core_get_params) {
  auto core = std::make_unique<Core>([handle, core_get_params] { return read_config(handle, core_get_params); });
  const char* behaviour = core_value(handle, core_get_params, "pkcs11-module-load-behavior");
  if (behaviour != nullptr && std::strcmp(behaviour, "early") == 0) core->load_module();
  return core;
}

}  // namespace
}  // namespace hsmprov

// Declared by OpenSSL's core.h without noexcept: nothing below may throw
// out of it (the config work is in a try block).
extern "C" int OSSL_provider_init(const OSSL_CORE_HANDLE* handle, const OSSL_DISPATCH* in,
                                  const OSSL_DISPATCH** out, void** provctx) {
  using namespace hsmprov;
  std::unique_ptr<ProviderCtx> ctx(new (std::nothrow) ProviderCtx);
  if (!ctx) return 0;
  ctx->handle = handle;
  ctx->core_functions = in;
  OSSL_FUNC_core_get_params_fn* core_get_params = nullptr;
  take_core_functions(*ctx, in, &core_get_params);
  if (core_get_params == nullptr || ctx->new_error == nullptr || ctx->bio_read_ex == nullptr) return 0;
  std::string failure;
  try {
    ctx->core = make_core(handle, core_get_params);
  } catch (const std::exception& e) {
    failure = e.what();
  } catch (...) {
    failure = "unexpected failure";
  }
  if (!failure.empty()) {
    // OpenSSL drops errors of providers activated from a config file without
    // a word; a provider that silently is not there misleads, so say it.
    // Only an early load that fails gets here: a broken section, a module
    // or token problem waits for the first use of a token.
    raise_error(ctx.get(), HSMPROV_R_CONFIG, "%s", failure.c_str());
    std::fprintf(stderr, "hsmprov: the provider is not loaded: %s\n", failure.c_str());
    return 0;
  }
  *out = provider_functions;
  *provctx = ctx.release();
  return 1;
}
