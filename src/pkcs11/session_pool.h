// Session pool of one token: hands out idle sessions, opens more on demand,
// and logs the token in once (PKCS#11 login is per application and token).
// One session, the anchor, is opened first and used for nothing else: when
// an application's last session on a token closes, the login goes, and a
// module may drop its object handles too (SoftHSM does), so the anchor
// keeps both even when every working session breaks.
// When the token service fails, every session is given up (drop_all): the
// pool starts a new generation. A session of an older generation that
// comes back later is closed, as the service may still hold it, unless its
// number is one of the new generation's (a restarted service hands out the
// old numbers again); opening and that closing exclude each other. After
// fork nothing of the parent's is ever closed.
// Knows PKCS#11 only through SessionOps, so unit tests drive its logic.
#pragma once

#include <atomic>
#include <cstddef>
#include <mutex>
#include <set>
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

// The session numbers a module has handed us and we still hold, across its
// tokens (numbers are the module's, not a token's), and the lock that keeps
// opening a session apart from closing one we gave up.
class LiveSessions {
 public:
  std::mutex& opening() { return opening_; }
  void add(CK_SESSION_HANDLE h);
  void remove(CK_SESSION_HANDLE h);
  bool has(CK_SESSION_HANDLE h) const;

 private:
  std::mutex opening_;
  mutable std::mutex mutex_;
  std::set<CK_SESSION_HANDLE> handles_;
};

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
  // `live`: the module's (all its tokens' pools share it); none: the pool's own.
  explicit SessionPool(SessionOps& ops, size_t max_idle = 16, LiveSessions* live = nullptr)
      : ops_(ops), max_idle_(max_idle), live_(live != nullptr ? *live : own_live_) {}
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
  // The token service failed: a new generation. The idle sessions and the
  // anchor are closed now (they may be gone with the service: no matter),
  // the ones in use when they come back. With `close` false (a module the
  // application shares with us: a number we gave up may be the
  // application's session now) nothing is closed, as after fork.
  void drop_all(bool close = true);
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
  void prepare_locked();  // with setup_mutex_ and live_.opening() held
  bool prepared() const;
  // A new session of this generation; call with live_.opening() held.
  CK_SESSION_HANDLE open_one();
  // With mutex_ held: every handle forgotten, a new generation; older ones
  // are closed when they come back if `closable`.
  void forget_locked(bool closable);
  void close_stale(CK_SESSION_HANDLE handle, unsigned generation);
  void forget_mine(CK_SESSION_HANDLE handle);  // closed by us

  SessionOps& ops_;
  size_t max_idle_;
  // Lock order: setup_mutex_, live_.opening(), mutex_. Only mutex_ is never
  // held across a call into the module.
  mutable std::mutex mutex_;
  std::mutex setup_mutex_;  // one anchor opening, login or session opening at a time
  LiveSessions own_live_;
  LiveSessions& live_;
  CK_SESSION_HANDLE anchor_ = CK_INVALID_HANDLE;
  std::vector<CK_SESSION_HANDLE> idle_;
  std::set<CK_SESSION_HANDLE> mine_;  // this generation's, the anchor included
  size_t open_ = 0;  // working sessions: idle and in use
  std::atomic<bool> anchored_{false};
  std::atomic<bool> anchor_suspect_{false};
  std::atomic<bool> login_wanted_{false};
  std::atomic<bool> logged_in_{false};
  unsigned generation_ = 0;
  unsigned closable_from_ = 0;  // older generations' sessions are the parent's, or a shared module's
};

}  // namespace hsmprov
