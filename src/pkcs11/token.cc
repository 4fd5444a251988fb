// Token: slot identity, mechanisms, sessions and login.
#include "pkcs11/token.h"

#include <algorithm>
#include <cstring>

#include "error.h"

namespace hsmprov {

std::string trimmed(const unsigned char* padded, size_t size) {
  std::string s(reinterpret_cast<const char*>(padded), size);
  size_t end = s.find_last_not_of(" \0", std::string::npos, 2);
  return end == std::string::npos ? std::string() : s.substr(0, end + 1);
}

Token::Token(Module& module, CK_SLOT_ID slot) : module_(module), slot_(slot), pool_(*this) {
  std::string where = "slot " + std::to_string(slot);
  check(call(fn()->C_GetSlotInfo, slot, &slot_info_), "C_GetSlotInfo", where);
  check(call(fn()->C_GetTokenInfo, slot, &info_), "C_GetTokenInfo", where);
  CK_ULONG count = 0;
  check(call(fn()->C_GetMechanismList, slot, nullptr, &count), "C_GetMechanismList", this->where());
  mechanisms_.resize(count);
  check(call(fn()->C_GetMechanismList, slot, mechanisms_.data(), &count), "C_GetMechanismList", this->where());
  mechanisms_.resize(count);
}

std::string Token::label() const { return trimmed(info_.label, sizeof info_.label); }

std::string Token::where() const { return "token '" + label() + "'"; }

bool Token::is(const CK_TOKEN_INFO& other) const {
  return std::memcmp(info_.label, other.label, sizeof info_.label) == 0 &&
         std::memcmp(info_.manufacturerID, other.manufacturerID, sizeof info_.manufacturerID) == 0 &&
         std::memcmp(info_.model, other.model, sizeof info_.model) == 0 &&
         std::memcmp(info_.serialNumber, other.serialNumber, sizeof info_.serialNumber) == 0;
}

bool Token::has_mechanism(CK_MECHANISM_TYPE mechanism) const {
  return std::find(mechanisms_.begin(), mechanisms_.end(), mechanism) != mechanisms_.end();
}

void Token::authenticate(Pin pin) {
  if (pool_.logged_in()) return;
  pin_ = std::move(pin);
  pool_.require_login();
}

Session Token::session() {
  if (lost()) fail(HSMPROV_R_NOT_FOUND, lost_);
  return pool_.acquire();
}

void Token::rebind(CK_SLOT_ID slot) {
  slot_ = slot;
  lost_.clear();
  check(call(fn()->C_GetSlotInfo, slot, &slot_info_), "C_GetSlotInfo", where());
}

CK_SESSION_HANDLE Token::open() {
  CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
  check(call(fn()->C_OpenSession, slot_, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &h),
        "C_OpenSession", where());
  return h;
}

void Token::close(CK_SESSION_HANDLE h) { call(fn()->C_CloseSession, h); }

void Token::do_login(CK_SESSION_HANDLE h, CK_USER_TYPE user) {
  if (pin_.empty()) fail(HSMPROV_R_PIN, where() + ": a PIN is needed and none was given");
  CK_RV rv = call(fn()->C_Login, h, user, const_cast<CK_UTF8CHAR*>(pin_.data()), pin_.size());
  if (rv == CKR_USER_ALREADY_LOGGED_IN) return;
  check(rv, "C_Login", where());
}

void Token::login(CK_SESSION_HANDLE h) { do_login(h, CKU_USER); }

void Token::context_login(CK_SESSION_HANDLE session) { do_login(session, CKU_CONTEXT_SPECIFIC); }

void Token::note_failure(Session& session, CK_RV rv) {
  switch (rv) {
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_SESSION_CLOSED:
    case CKR_DEVICE_REMOVED:
    case CKR_DEVICE_ERROR:
    case CKR_TOKEN_NOT_PRESENT:
      session.mark_broken();
      break;
    case CKR_USER_NOT_LOGGED_IN:
      pool_.login_lost();
      break;
    default:
      break;
  }
}

}  // namespace hsmprov
