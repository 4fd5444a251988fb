/* The keydata our keymgmt hands to OpenSSL: a token key (or a software
 * public key imported for comparison), shared by every operation file. */
#pragma once

#include <memory>

#include "keys/key.h"
#include "provider.h"

namespace hsmprov {

struct KeyData {
  ProviderCtx* provider;
  KeyType type;
  std::shared_ptr<Key> key;  // null until imported, loaded or generated
};

}  // namespace hsmprov
