// Token: slot identity, mechanisms, sessions and login.
#include "pkcs11/token.h"

#include <algorithm>
#include <cstring>

#include "error.h"

namespace hsmprov {
namespace {

bool pin_refused(CK_RV rv) {
  return rv == CKR_PIN_INCORRECT || rv == CKR_PIN_INVALID || rv == CKR_PIN_LEN_RANGE || rv == CKR_PIN_EXPIRED ||
         rv == CKR_PIN_LOCKED;
}

// The session is gone, and with a device error or removal every other
// session of the token likely too.
bool is_session_failure(CK_RV rv) {
  return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED || rv == CKR_DEVICE_REMOVED ||
         rv == CKR_DEVICE_ERROR || rv == CKR_TOKEN_NOT_PRESENT;
}

}  // namespace

std::string trimmed(const unsigned char* padded, size_t size) {
  std::string s(reinterpret_cast<const char*>(padded), size);
  size_t end = s.find_last_not_of(" \0", std::string::npos, 2);
  return end == std::string::npos ? std::string() : s.substr(0, end + 1);
}

Token::Token(Module& module, CK_SLOT_ID slot, const CK_TOKEN_INFO& info)
    : module_(module), slot_(slot), info_(info), pool_(*this, 16, &module.live_sessions()) {}

std::string Token::label() const { return trimmed(info_.label, sizeof info_.label); }

std::string Token::where() const { return "token '" + label() + "'"; }

bool Token::is(const CK_TOKEN_INFO& other) const {
  return std::memcmp(info_.label, other.label, sizeof info_.label) == 0 &&
         std::memcmp(info_.manufacturerID, other.manufacturerID, sizeof info_.manufacturerID) == 0 &&
         std::memcmp(info_.model, other.model, sizeof info_.model) == 0 &&
         std::memcmp(info_.serialNumber, other.serialNumber, sizeof info_.serialNumber) == 0;
}

bool Token::has_mechanism(CK_MECHANISM_TYPE mechanism) const {
  std::lock_guard<std::mutex> lock(mechanisms_mutex_);
  if (!mechanisms_) {
    CK_ULONG count = 0;
    check(call(fn()->C_GetMechanismList, slot_.load(), nullptr, &count), "C_GetMechanismList", where());
    // One entry of room more than asked: p11-kit 0.24's client, dropping
    // the mechanisms it cannot carry from the list, reads one past its end
    // (seen under ASan).
    std::vector<CK_MECHANISM_TYPE> list(count + 1);
    check(call(fn()->C_GetMechanismList, slot_.load(), list.data(), &count), "C_GetMechanismList", where());
    list.resize(count);
    mechanisms_ = std::move(list);
  }
  return std::find(mechanisms_->begin(), mechanisms_->end(), mechanism) != mechanisms_->end();
}

CK_SLOT_INFO Token::slot_info() const {
  std::lock_guard<std::mutex> lock(state_mutex_);
  if (!slot_info_) {
    CK_SLOT_INFO info;
    check(call(fn()->C_GetSlotInfo, slot_.load(), &info), "C_GetSlotInfo", where());
    slot_info_ = info;
  }
  return *slot_info_;
}

void Token::authenticate(Pin pin) {
  if (pool_.logged_in()) return;
  {
    std::lock_guard<std::mutex> lock(pin_mutex_);
    pin_ = std::move(pin);
  }
  pool_.require_login();
}

Session Token::session() {
  if (lost_) {
    std::lock_guard<std::mutex> lock(state_mutex_);
    throw Pkcs11Error(CKR_TOKEN_NOT_PRESENT, lost_reason_);
  }
  return pool_.acquire();
}

void Token::rebind(CK_SLOT_ID slot) {
  // Sessions on the slot it left are void.
  if (slot != slot_) pool_.forget_all();
  std::lock_guard<std::mutex> lock(state_mutex_);
  slot_ = slot;
  slot_info_.reset();
  lost_ = false;
  lost_reason_.clear();
}

void Token::lose(const std::string& why) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  lost_reason_ = why;
  lost_ = true;
}

CK_SESSION_HANDLE Token::open() {
  CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
  check(call(fn()->C_OpenSession, slot_, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &h),
        "C_OpenSession", where());
  return h;
}

void Token::close(CK_SESSION_HANDLE h) {
  // A parent's session after fork, or any at exit: not ours to close.
  if (module_.forked() || process_is_exiting()) return;
  call(fn()->C_CloseSession, h);
}

void Token::do_login(CK_SESSION_HANDLE h, CK_USER_TYPE user) {
  std::lock_guard<std::mutex> lock(pin_mutex_);
  if (pin_.empty()) fail(HSMPROV_R_PIN, where() + ": a PIN is needed and none was given");
  CK_RV rv = call(fn()->C_Login, h, user, const_cast<CK_UTF8CHAR*>(pin_.data()), pin_.size());
  if (rv == CKR_USER_ALREADY_LOGGED_IN) return;
  if (pin_refused(rv)) {
    // Not again with the same PIN on every operation: each wrong try
    // counts toward locking the token. The next key load brings a PIN.
    pin_ = Pin();
    pool_.login_refused();
  } else if (is_session_failure(rv)) {
    pool_.anchor_lost();
  }
  check(rv, "C_Login", where());
}

void Token::login(CK_SESSION_HANDLE h) { do_login(h, CKU_USER); }

void Token::context_login(CK_SESSION_HANDLE session) { do_login(session, CKU_CONTEXT_SPECIFIC); }

void Token::note_failure(Session& session, CK_RV rv) {
  if (is_session_failure(rv)) {
    session.mark_broken();
    pool_.anchor_lost();
  } else if (rv == CKR_USER_NOT_LOGGED_IN) {
    pool_.login_lost();
  }
}

}  // namespace hsmprov
