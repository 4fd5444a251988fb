// One token in a slot: its identity (for URI matching and error context),
// its mechanism list, its session pool and its login. A Token lives as long
// as its directory; after fork or a re-initialisation of the module it may
// move to another slot, or be lost to this process (then every use says
// why). What it asks of the module beyond its identity (slot info,
// mechanisms) it asks on first need: each is a round trip to a network HSM.
#pragma once

#include <atomic>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "pin.h"
#include "pkcs11/module.h"
#include "pkcs11/session_pool.h"

namespace hsmprov {

class Token : private SessionOps {
 public:
  Token(Module& module, CK_SLOT_ID slot, const CK_TOKEN_INFO& info);
  Token(const Token&) = delete;
  Token& operator=(const Token&) = delete;

  CK_FUNCTION_LIST* fn() const { return module_.fn(); }
  CK_SLOT_ID slot() const { return slot_; }
  const CK_TOKEN_INFO& info() const { return info_; }
  CK_SLOT_INFO slot_info() const;
  std::string label() const;
  // "token 'label'": the prefix of every error about this token.
  std::string where() const;
  // The same token (label, manufacturer, model, serial) as `other`.
  bool is(const CK_TOKEN_INFO& other) const;

  bool login_required() const { return (info_.flags & CKF_LOGIN_REQUIRED) != 0; }
  bool logged_in() const { return pool_.logged_in(); }
  // Logs in with `pin` (kept for re-login after fork) unless logged in.
  void authenticate(Pin pin);
  // Per-operation login for keys with CKA_ALWAYS_AUTHENTICATE.
  void context_login(CK_SESSION_HANDLE session);

  bool has_mechanism(CK_MECHANISM_TYPE mechanism) const;
  // Throws the reason when the token is lost to this process (a
  // Pkcs11Error with CKR_TOKEN_NOT_PRESENT: it may come back).
  Session session();
  // After fork: forget every handle; the next session logs in again.
  void forget_sessions() { pool_.forget_all(); }
  // The token service failed: give up every session (session_pool.h).
  void drop_sessions() { pool_.drop_all(!module_.shared()); }
  // The token is now in `slot` (after fork, or moved), or (lose) not
  // visible to this process at all.
  void rebind(CK_SLOT_ID slot);
  void lose(const std::string& why);
  bool lost() const { return lost_; }
  // Classifies a failed call: closes broken sessions, notes a lost login.
  void note_failure(Session& session, CK_RV rv);
  // Our session copies (C_CopyObject, shared) and object searches
  // (exclusive) exclude each other. SoftHSM 2.6 puts a copy in its object
  // store before it has copied the attributes and applied the template:
  // until then the copy has the original's CKA_TOKEN true and a search for
  // the key's token objects finds it, half made (reading it gives the
  // defaults SoftHSM fills in, an empty CKA_EC_PARAMS). Taken inside a
  // CallInFlight (module.h): a fork never finds it held.
  std::shared_mutex& copies_and_searches() { return copies_and_searches_; }

 private:
  CK_SESSION_HANDLE open() override;
  void close(CK_SESSION_HANDLE h) override;
  void login(CK_SESSION_HANDLE h) override;
  void do_login(CK_SESSION_HANDLE h, CK_USER_TYPE user);

  Module& module_;
  std::atomic<CK_SLOT_ID> slot_;
  CK_TOKEN_INFO info_{};
  mutable std::mutex mechanisms_mutex_;
  mutable std::optional<std::vector<CK_MECHANISM_TYPE>> mechanisms_;
  std::mutex pin_mutex_;  // C_Login reads the PIN while another thread may set it
  Pin pin_;
  mutable std::mutex state_mutex_;  // slot_info_ and lost_reason_ change after fork
  mutable std::optional<CK_SLOT_INFO> slot_info_;
  std::atomic<bool> lost_{false};
  std::string lost_reason_;
  SessionPool pool_;
  std::shared_mutex copies_and_searches_;
};

// PKCS#11 pads fixed-size strings with blanks.
std::string trimmed(const unsigned char* padded, size_t size);

}  // namespace hsmprov
