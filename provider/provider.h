/* The provider context and the error boundary shared by every operation
 * file: C++ results become 0/1 (or NULL) plus an entry on OpenSSL's error
 * queue; no exception crosses into C. */
#pragma once

#include <cerrno>
#include <cstdarg>
#include <memory>
#include <new>
#include <optional>
#include <string>

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/opensslv.h>

#include "keys/core.h"
#include "error.h"
#include "handles.h"
#include "lazy.h"

namespace hsmprov {

// OpenSSL's BIO over a core BIO needs a library context made from the core's
// dispatch table; made with the first decode.
struct CoreBioContext {
  explicit CoreBioContext(OSSL_LIB_CTX* libctx) : libctx(libctx) {}
  ~CoreBioContext() { OSSL_LIB_CTX_free(libctx); }
  OSSL_LIB_CTX* libctx;
};

struct ProviderCtx {
  const OSSL_CORE_HANDLE* handle = nullptr;
  const OSSL_DISPATCH* core_functions = nullptr;  // OpenSSL's, static
  OSSL_FUNC_core_new_error_fn* new_error = nullptr;
  OSSL_FUNC_core_set_error_debug_fn* set_error_debug = nullptr;
  OSSL_FUNC_core_vset_error_fn* vset_error = nullptr;
  OSSL_FUNC_BIO_read_ex_fn* bio_read_ex = nullptr;
  OSSL_FUNC_BIO_write_ex_fn* bio_write_ex = nullptr;
  std::unique_ptr<Core> core;
  Lazy<CoreBioContext> core_bio_context;

  // A BIO reading `in`, the input OpenSSL hands a decoder.
  BioPtr bio_for(OSSL_CORE_BIO* in);
};

// Asks through OpenSSL's passphrase callback (an application's prompt).
PinPrompt pin_prompt(OSSL_PASSPHRASE_CALLBACK* pw_cb, void* pw_cbarg);

// Hands a token key to OpenSSL as an object reference that our keymgmt's
// load() picks up while `object_cb` runs.
int pass_key_reference(const std::shared_ptr<Key>& key, const std::string& description, OSSL_CALLBACK* object_cb,
                       void* object_cbarg);

void raise_error(const ProviderCtx* ctx, int reason, const char* format, ...);

// errno as the caller left it, however the call ends: a module that could
// not be loaded leaves ENOENT behind, and applications such as Python's ssl
// take a set errno for the cause of a failed call, over OpenSSL's errors.
struct KeptErrno {
  int value = errno;
  ~KeptErrno() { errno = value; }
};

// Runs `body`; any exception becomes an error entry and `on_error` is returned.
template <typename R, typename F>
R guarded(const ProviderCtx* ctx, R on_error, F&& body) noexcept {
  KeptErrno kept_errno;
  try {
    return body();
  } catch (const Error& e) {
    raise_error(ctx, e.reason(), "%s", e.what());
  } catch (const std::bad_alloc&) {
    raise_error(ctx, HSMPROV_R_INTERNAL, "out of memory");
  } catch (const std::exception& e) {
    raise_error(ctx, HSMPROV_R_INTERNAL, "%s", e.what());
  } catch (...) {
    raise_error(ctx, HSMPROV_R_INTERNAL, "unexpected failure");
  }
  return on_error;
}

// A dispatch entry whose function the compiler checks against OpenSSL's
// OSSL_FUNC_*_fn typedef.
#define HSMPROV_FN(id, fn_type, fn) \
  { id, reinterpret_cast<void (*)()>(static_cast<fn_type*>(fn)) }

// Names of our signature and asymmetric cipher algorithms (see keymgmt.cc).
#define HSMPROV_RSA_OPERATIONS "HSMPROV-RSA"
#define HSMPROV_ECDSA "HSMPROV-ECDSA"
#define HSMPROV_ED25519 "HSMPROV-ED25519"
#define HSMPROV_ML_DSA_44 "HSMPROV-ML-DSA-44"
#define HSMPROV_ML_DSA_65 "HSMPROV-ML-DSA-65"
#define HSMPROV_ML_DSA_87 "HSMPROV-ML-DSA-87"

// OpenSSL's names for ML-DSA's parameter sets (its default provider's).
#define HSMPROV_ML_DSA_44_NAMES "ML-DSA-44:MLDSA44:2.16.840.1.101.3.4.3.17:id-ml-dsa-44"
#define HSMPROV_ML_DSA_65_NAMES "ML-DSA-65:MLDSA65:2.16.840.1.101.3.4.3.18:id-ml-dsa-65"
#define HSMPROV_ML_DSA_87_NAMES "ML-DSA-87:MLDSA87:2.16.840.1.101.3.4.3.19:id-ml-dsa-87"
// ML-DSA's signatures, encoders and decoders need OpenSSL 3.5; built
// against an older one, only its key management is offered, to say so.
#define HSMPROV_WITH_ML_DSA (OPENSSL_VERSION_NUMBER >= 0x30500000L)

// Both stores take OSSL_STORE_PARAM_EXPECT (which kind of object is wanted).
const OSSL_PARAM* store_settable_ctx_params(void* provctx);
int store_expect_from(const OSSL_PARAM params[], int* expect);

// Algorithm tables of each operation file.
extern const OSSL_ALGORITHM store_algorithms[];
extern const OSSL_ALGORITHM keymgmt_algorithms[];
extern const OSSL_ALGORITHM signature_algorithms[];
extern const OSSL_ALGORITHM asym_cipher_algorithms[];
extern const OSSL_ALGORITHM encoder_algorithms[];
extern const OSSL_ALGORITHM decoder_algorithms[];
extern const OSSL_DISPATCH pkc_store_functions[];

// The PKC decoder's two steps (pkc_decoder.cc): a DER PKC at the start of
// `in` (else nothing read), and a PKC's objects handed to OpenSSL.
std::optional<Bytes> read_der_pkc(BIO* in);
int pass_pkc(const Bytes& der, OSSL_CALLBACK* data_cb, void* data_cbarg);

}  // namespace hsmprov
