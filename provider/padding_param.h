/* RSA padding mode parameters: OpenSSL passes them as an integer
 * (RSA_PKCS1_PADDING, ...) or as a name ("pkcs1", "pss", "oaep"). */
#pragma once

#include <openssl/core.h>

namespace hsmprov {

struct PaddingName {
  const char* name;
  int mode;
};

// The mode `p` gives, which must be one of `allowed` (ended by {nullptr, 0});
// throws naming `what` otherwise.
int padding_from(const OSSL_PARAM* p, const PaddingName* allowed, const char* what);
// Answers a get_ctx_params request in the form (integer or name) asked for.
int set_padding(OSSL_PARAM* p, int mode, const PaddingName* allowed);

}  // namespace hsmprov
