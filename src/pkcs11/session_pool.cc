// Session pool logic; see session_pool.h for the rules it keeps.
#include "pkcs11/session_pool.h"

namespace hsmprov {

Session::~Session() {
  if (pool_ != nullptr) pool_->release(handle_, generation_, broken_);
}

Session::Session(Session&& other) noexcept
    : pool_(other.pool_), handle_(other.handle_), generation_(other.generation_), broken_(other.broken_) {
  other.pool_ = nullptr;
}

SessionPool::~SessionPool() {
  for (CK_SESSION_HANDLE h : idle_) ops_.close(h);
  if (anchor_ != CK_INVALID_HANDLE) ops_.close(anchor_);
}

Session SessionPool::take_or_open() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!idle_.empty()) {
      CK_SESSION_HANDLE h = idle_.back();
      idle_.pop_back();
      return Session(this, h, generation_);
    }
  }
  CK_SESSION_HANDLE h = ops_.open();  // outside the lock: may be slow
  std::lock_guard<std::mutex> lock(mutex_);
  ++open_;
  return Session(this, h, generation_);
}

void SessionPool::prepare() {
  // Atomics: no lock on every acquire.
  if (anchored_ && !anchor_suspect_ && (!login_wanted_ || logged_in_)) return;
  std::lock_guard<std::mutex> setup(setup_mutex_);
  if (anchor_ == CK_INVALID_HANDLE || anchor_suspect_) {
    CK_SESSION_HANDLE old = anchor_;
    anchor_ = ops_.open();
    anchored_ = true;
    anchor_suspect_ = false;
    if (old != CK_INVALID_HANDLE) {
      ops_.close(old);
      logged_in_ = false;  // it may have gone with the old anchor; logging in again is harmless
    }
  }
  if (login_wanted_ && !logged_in_) {
    ops_.login(anchor_);
    logged_in_ = true;
  }
}

void SessionPool::require_login() {
  login_wanted_ = true;
  prepare();
}

Session SessionPool::acquire() {
  prepare();
  return take_or_open();
}

void SessionPool::release(CK_SESSION_HANDLE handle, unsigned generation, bool broken) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (generation != generation_) return;  // from before fork: not ours to close
  if (!broken && idle_.size() < max_idle_) {
    idle_.push_back(handle);
    return;
  }
  --open_;
  lock.unlock();
  ops_.close(handle);
}

void SessionPool::forget_all() {
  std::lock_guard<std::mutex> setup(setup_mutex_);
  std::lock_guard<std::mutex> lock(mutex_);
  idle_.clear();
  open_ = 0;
  anchor_ = CK_INVALID_HANDLE;
  anchored_ = false;
  logged_in_ = false;
  ++generation_;
}

void SessionPool::login_lost() {
  std::lock_guard<std::mutex> lock(mutex_);
  logged_in_ = false;
}

void SessionPool::login_refused() { login_wanted_ = false; }

void SessionPool::anchor_lost() { anchor_suspect_ = true; }

bool SessionPool::logged_in() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return logged_in_;
}

size_t SessionPool::open_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return open_ + (anchored_ ? 1 : 0);
}

size_t SessionPool::idle_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return idle_.size();
}

}  // namespace hsmprov
