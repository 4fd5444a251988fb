// Session copies of one token key (pkcs11-module-cache-keys): C_CopyObject
// with CKA_TOKEN false, a copy that stays in the token, as sensitive and
// unextractable as the original. It signs faster on tokens that decrypt
// stored objects on every use, such as SoftHSM. Each copy lives in a
// session of its own and serves one operation at a time: a module locks a
// key object while it signs with it (SoftHSM does), so threads that shared
// one copy queued behind each other.
#pragma once

#include <array>
#include <atomic>
#include <optional>
#include <string>

#include "pkcs11/token.h"

namespace hsmprov {

class SessionCopies;

// A session reserved for one operation and the key object to use on it:
// a copy of its own, or (no copy to be had) the token object on a session
// from the token's pool.
class KeySession {
 public:
  KeySession(KeySession&& other) noexcept;
  KeySession& operator=(KeySession&&) = delete;
  ~KeySession();
  Session& session();
  CK_OBJECT_HANDLE object() const { return object_; }

 private:
  friend class SessionCopies;
  KeySession(SessionCopies* copies, size_t slot, CK_OBJECT_HANDLE object) : copies_(copies), slot_(slot), object_(object) {}
  KeySession(Session session, CK_OBJECT_HANDLE object) : pool_session_(std::move(session)), object_(object) {}

  SessionCopies* copies_ = nullptr;  // set for a copy's slot
  size_t slot_ = 0;
  std::optional<Session> pool_session_;
  CK_OBJECT_HANDLE object_;
};

class SessionCopies {
 public:
  static constexpr size_t kSlots = 16;  // more concurrent operations share the token object

  explicit SessionCopies(Token& token) : token_(token) {}
  SessionCopies(const SessionCopies&) = delete;
  SessionCopies& operator=(const SessionCopies&) = delete;
  // Destroys the copies, unless `destroy` was cleared (after fork, at exit).
  ~SessionCopies();

  // A session for one operation with `original`, the token object; with a
  // copy of its own when `use_copies` and the token makes copies, from the
  // key's second operation on: a key used once (a one-shot command) would
  // pay C_CopyObject and C_DestroyObject for nothing, two round trips to a
  // network HSM.
  KeySession take(CK_OBJECT_HANDLE original, bool use_copies, const std::string& where);
  // After fork or recovery every session and copy handle is void: forget
  // them, with no call. Safe while other threads use their copies.
  void forget();
  // Leave the copies to the process (their handles may no longer be ours).
  void keep_at_destruction() { destroy_ = false; }

 private:
  friend class KeySession;
  enum State { kEmpty, kIdle, kBusy };
  struct alignas(64) Slot {  // one cache line each: threads touch only their own
    std::atomic<int> state{kEmpty};
    std::optional<Session> session;
    CK_OBJECT_HANDLE copy = CK_INVALID_HANDLE;
    unsigned epoch = 0;  // the forget() count when the copy was made
  };

  std::optional<KeySession> idle_copy();
  std::optional<KeySession> new_copy(CK_OBJECT_HANDLE original, const std::string& where);
  void give_back(size_t slot);
  void discard(size_t slot);  // a slot this thread holds

  Token& token_;
  std::array<Slot, kSlots> slots_;
  std::atomic<bool> refused_{false};
  std::atomic<bool> used_{false};
  std::atomic<unsigned> epoch_{0};
  bool destroy_ = true;
};

}  // namespace hsmprov
