// The tokens a module shows this process. Each token is kept as one Token
// for the life of the directory, since keys point to theirs; after fork, or
// a re-initialisation of the module, each is looked for again by its
// identity, because its slot may have changed or the token may not be
// visible now (another user, other files, a service still down).
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
  // After fork, or after the module was initialised again (`when` says
  // which): forget every session, and find each token's slot again. A
  // token not found is lost until it shows again, its errors saying `when`
  // and `hint` (what to check).
  void rebind(const std::string& when, const std::string& hint);
  // The token service failed: every token's sessions given up.
  void drop_sessions();
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
