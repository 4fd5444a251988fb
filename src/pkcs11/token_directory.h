// The tokens a module shows this process. Each token is kept as one Token
// for the life of the directory, since keys point to theirs; after fork each
// is looked for again by its identity, because its slot may have changed or
// the token may not be visible to the child (another user, other files).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pkcs11/token.h"

namespace hsmprov {

class TokenDirectory {
 public:
  explicit TokenDirectory(Module& module) : module_(module) {}
  TokenDirectory(const TokenDirectory&) = delete;
  TokenDirectory& operator=(const TokenDirectory&) = delete;

  // The initialised tokens in the module's slots now. (SoftHSM always
  // offers an uninitialised one, which holds nothing to use.)
  std::vector<Token*> present();
  // After fork: forget every session, and find each token's slot again.
  void rebind_after_fork();
  // What the module shows this process, for errors that must say why a
  // token is missing: "module 'M' shows 1 slot to uid 33 (www-data): an
  // uninitialised token".
  std::string visibility();

 private:
  std::vector<CK_SLOT_ID> slot_list(CK_BBOOL with_token);
  CK_TOKEN_INFO token_info(CK_SLOT_ID slot);
  Token& token_for(CK_SLOT_ID slot, const CK_TOKEN_INFO& info);

  Module& module_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Token>> tokens_;
};

}  // namespace hsmprov
