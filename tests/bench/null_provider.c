/* Benchmark reference: an OpenSSL provider that does nothing. Loading it
 * from the config measures what OpenSSL itself spends on activating any
 * provider, the floor under hsmprov's own start-up cost. */
#include <openssl/core.h>
#include <openssl/core_dispatch.h>

static const OSSL_ALGORITHM* query_operation(void* provctx, int operation_id, int* no_cache) {
  (void)provctx;
  (void)operation_id;
  *no_cache = 0;
  return NULL;
}

static const OSSL_DISPATCH functions[] = {
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))query_operation}, {0, NULL}};

int OSSL_provider_init(const OSSL_CORE_HANDLE* handle, const OSSL_DISPATCH* in, const OSSL_DISPATCH** out,
                       void** provctx) {
  (void)in;
  *out = functions;
  *provctx = (void*)handle;
  return 1;
}
