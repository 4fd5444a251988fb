// The objects a search finds on a token, read once each (at most two
// C_GetAttributeValue an object) and turned into what OpenSSL's store
// hands out: keys with their public half, and certificates. A private EC
// key's public half is taken from the objects the same search found where
// it can (a URI that names a key finds its public object too), so that it
// costs no second search.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "keys/key.h"
#include "pkcs11/attributes.h"

namespace hsmprov {

class Core;

struct Found {
  CK_OBJECT_CLASS object_class;
  std::shared_ptr<Key> key;  // private and public keys
  Bytes certificate;         // DER, for certificates
  std::string label;
};

// The usable objects of the classes `wanted` among those matching `query`
// (token objects only), in the order the token gives them. Objects of
// other classes, and keys of types hsmprov does not handle, are left out.
std::vector<Found> find_usable(Core& core, Token& token, Session& session, const std::vector<Attribute>& query,
                               const std::vector<CK_OBJECT_CLASS>& wanted);

// A key pair the token has just made, from its two handles.
std::shared_ptr<Key> new_pair_key(Core& core, Token& token, Session& session, CK_OBJECT_HANDLE private_key,
                                  CK_OBJECT_HANDLE public_key);

}  // namespace hsmprov
