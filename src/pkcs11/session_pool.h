// Session pool of one token: hands out idle sessions, opens more on demand,
// and logs the token in once (PKCS#11 login is per application and token).
// One session, the anchor, is opened first and used for nothing else: when
// an application's last session on a token closes, the login goes, and a
// module may drop its object handles too (SoftHSM does), so the anchor
// keeps both even when every working session breaks.
// Knows PKCS#11 only through SessionOps, so unit tests drive its logic.
#pragma once

#include <atomic>
#include <cstddef>
#include <mutex>
#include <vector>

#include "pkcs11/p11.h"

namespace hsmprov {

class SessionOps {
 public:
  virtual ~SessionOps() = default;
  virtual CK_SESSION_HANDLE open() = 0;          // throws on failure
  virtual void close(CK_SESSION_HANDLE h) = 0;   // never throws
  virtual void login(CK_SESSION_HANDLE h) = 0;   // throws; already-logged-in is success
};

class SessionPool;

// A borrowed session; goes back to its pool when it goes out of scope.
class Session {
 public:
  Session(SessionPool* pool, CK_SESSION_HANDLE handle, unsigned generation)
      : pool_(pool), handle_(handle), generation_(generation) {}
  ~Session();
  Session(Session&& other) noexcept;
  Session& operator=(Session&&) = delete;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  CK_SESSION_HANDLE handle() const { return handle_; }
  // The session is unusable (invalid handle, device gone): close, don't reuse.
  void mark_broken() { broken_ = true; }
  bool broken() const { return broken_; }

 private:
  SessionPool* pool_;
  CK_SESSION_HANDLE handle_;
  unsigned generation_;
  bool broken_ = false;
};

class SessionPool {
 public:
  explicit SessionPool(SessionOps& ops, size_t max_idle = 16) : ops_(ops), max_idle_(max_idle) {}
  ~SessionPool();
  SessionPool(const SessionPool&) = delete;
  SessionPool& operator=(const SessionPool&) = delete;

  // Logs in now if not yet logged in, and again after a reset.
  void require_login();
  Session acquire();
  // Handles from before forget_all() (an older generation) are dropped.
  void release(CK_SESSION_HANDLE handle, unsigned generation, bool broken);
  // After fork(): every handle is void and the login is gone. Forget them,
  // the anchor too, without closing (that would act on the parent's sessions).
  void forget_all();
  // The user was logged out behind our back (CKR_USER_NOT_LOGGED_IN).
  void login_lost();
  // The token refused the PIN: no login on every acquire until a new one
  // is required (a wrong PIN tried again and again locks a token).
  void login_refused();
  // A session failed as if the device went away: the anchor may be gone
  // too. The next acquire opens a new one (and logs in on it) before it
  // closes the old, so that at least one session stays open.
  void anchor_lost();

  bool logged_in() const;
  size_t open_count() const;  // the anchor included
  size_t idle_count() const;

 private:
  Session take_or_open();
  // Opens the anchor and logs in on it, as far as not done yet.
  void prepare();

  SessionOps& ops_;
  size_t max_idle_;
  mutable std::mutex mutex_;
  std::mutex setup_mutex_;  // one anchor opening or login at a time; held without mutex_
  CK_SESSION_HANDLE anchor_ = CK_INVALID_HANDLE;
  std::vector<CK_SESSION_HANDLE> idle_;
  size_t open_ = 0;  // working sessions: idle and in use
  std::atomic<bool> anchored_{false};
  std::atomic<bool> anchor_suspect_{false};
  std::atomic<bool> login_wanted_{false};
  std::atomic<bool> logged_in_{false};
  unsigned generation_ = 0;
};

}  // namespace hsmprov
