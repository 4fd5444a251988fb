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

void LiveSessions::add(CK_SESSION_HANDLE h) {
  std::lock_guard<std::mutex> lock(mutex_);
  handles_.insert(h);
}

void LiveSessions::remove(CK_SESSION_HANDLE h) {
  std::lock_guard<std::mutex> lock(mutex_);
  handles_.erase(h);
}

bool LiveSessions::has(CK_SESSION_HANDLE h) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return handles_.count(h) != 0;
}

CK_SESSION_HANDLE SessionPool::open_one() {
  CK_SESSION_HANDLE h = ops_.open();  // outside mutex_: may be slow
  live_.add(h);
  std::lock_guard<std::mutex> lock(mutex_);
  mine_.insert(h);
  return h;
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
  // Prepared again under the same locks as the opening: a drop_all between
  // acquire's prepare() and here may have closed every session, and a
  // module logs the application out when its last session closes (SoftHSM
  // does): a session opened then, before the next login, sees no private
  // object.
  std::lock_guard<std::mutex> setup(setup_mutex_);
  std::lock_guard<std::mutex> opening(live_.opening());
  prepare_locked();
  CK_SESSION_HANDLE h = open_one();
  std::lock_guard<std::mutex> lock(mutex_);
  ++open_;
  return Session(this, h, generation_);
}

// Atomics: no lock on every acquire.
bool SessionPool::prepared() const { return anchored_ && !anchor_suspect_ && (!login_wanted_ || logged_in_); }

void SessionPool::prepare() {
  if (prepared()) return;
  std::lock_guard<std::mutex> setup(setup_mutex_);
  std::lock_guard<std::mutex> opening(live_.opening());
  prepare_locked();
}

// Under live_.opening() throughout: the pool is not given up (drop_all)
// between opening the anchor and logging in on it.
void SessionPool::prepare_locked() {
  if (prepared()) return;
  CK_SESSION_HANDLE anchor;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    anchor = anchor_;
  }
  if (anchor == CK_INVALID_HANDLE || anchor_suspect_) {
    CK_SESSION_HANDLE old = anchor;
    anchor = open_one();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      anchor_ = anchor;
      anchored_ = true;
      anchor_suspect_ = false;
    }
    if (old != CK_INVALID_HANDLE) {
      forget_mine(old);
      ops_.close(old);
      logged_in_ = false;  // it may have gone with the old anchor; logging in again is harmless
    }
  }
  if (login_wanted_ && !logged_in_) {
    ops_.login(anchor);
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
  if (generation != generation_) {
    lock.unlock();
    return close_stale(handle, generation);
  }
  if (!broken && idle_.size() < max_idle_) {
    idle_.push_back(handle);
    return;
  }
  --open_;
  mine_.erase(handle);
  lock.unlock();
  live_.remove(handle);
  ops_.close(handle);
}

// Under live_.opening(): no session opens meanwhile, so a number that is not
// this generation's now cannot become one before it is closed.
void SessionPool::close_stale(CK_SESSION_HANDLE handle, unsigned generation) {
  std::lock_guard<std::mutex> opening(live_.opening());
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (generation < closable_from_) return;
  }
  if (!live_.has(handle)) ops_.close(handle);
}

void SessionPool::forget_mine(CK_SESSION_HANDLE handle) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    mine_.erase(handle);
  }
  live_.remove(handle);
}

void SessionPool::forget_all() {
  std::lock_guard<std::mutex> lock(mutex_);
  forget_locked(false);
}

void SessionPool::drop_all(bool close) {
  std::lock_guard<std::mutex> opening(live_.opening());
  std::vector<CK_SESSION_HANDLE> unused;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (close) unused.swap(idle_);
    if (close && anchor_ != CK_INVALID_HANDLE) unused.push_back(anchor_);
    forget_locked(close);
  }
  for (CK_SESSION_HANDLE h : unused) ops_.close(h);
}

void SessionPool::forget_locked(bool closable) {
  for (CK_SESSION_HANDLE h : mine_) live_.remove(h);
  mine_.clear();
  idle_.clear();
  open_ = 0;
  anchor_ = CK_INVALID_HANDLE;
  anchored_ = false;
  logged_in_ = false;
  ++generation_;
  if (!closable) closable_from_ = generation_;
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
