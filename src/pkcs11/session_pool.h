// Session pool of one token: hands out idle sessions, opens more on demand,
// logs the token in once (PKCS#11 login is per application and token) and
// keeps one session open while logged in so the login is not lost.
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
  // After fork(): every handle is void and the login is gone. Forget them
  // without closing (closing would act on the parent's sessions).
  void forget_all();
  // The user was logged out behind our back (CKR_USER_NOT_LOGGED_IN).
  void login_lost();

  bool logged_in() const;
  size_t open_count() const;
  size_t idle_count() const;

 private:
  Session take_or_open();
  void login_if_needed();

  SessionOps& ops_;
  size_t max_idle_;
  mutable std::mutex mutex_;
  std::mutex login_mutex_;  // one login at a time; held without mutex_
  std::vector<CK_SESSION_HANDLE> idle_;
  size_t open_ = 0;
  std::atomic<bool> login_wanted_{false};
  std::atomic<bool> logged_in_{false};
  unsigned generation_ = 0;
};

}  // namespace hsmprov
