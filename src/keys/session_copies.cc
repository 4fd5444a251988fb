// Per-operation session copies: slots taken and given back with atomics, so
// signing threads share no lock of ours and no object in the module.
#include "keys/session_copies.h"

#include "log.h"
#include "pkcs11/ckr_names.h"
#include "pkcs11/objects.h"

namespace hsmprov {
namespace {

// The slot this thread used last: it finds its own copy first.
thread_local size_t preferred_slot = 0;

bool copy_refused(CK_RV rv) {
  return rv == CKR_ACTION_PROHIBITED || rv == CKR_FUNCTION_NOT_SUPPORTED || rv == CKR_ATTRIBUTE_READ_ONLY ||
         rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_TEMPLATE_INCONSISTENT;
}

}  // namespace

KeySession::KeySession(KeySession&& other) noexcept
    : copies_(other.copies_), slot_(other.slot_), pool_session_(std::move(other.pool_session_)),
      object_(other.object_) {
  other.copies_ = nullptr;
}

KeySession::~KeySession() {
  if (copies_ != nullptr) copies_->give_back(slot_);
}

Session& KeySession::session() { return copies_ != nullptr ? *copies_->slots_[slot_].session : *pool_session_; }

SessionCopies::~SessionCopies() {
  for (Slot& slot : slots_) {
    if (!slot.session) continue;
    // A copy the token will not destroy goes with its session (closed, not pooled).
    if (destroy_ && call(token_.fn()->C_DestroyObject, slot.session->handle(), slot.copy) != CKR_OK)
      slot.session->mark_broken();
    slot.session.reset();
  }
}

std::optional<KeySession> SessionCopies::idle_copy() {
  for (size_t n = 0; n < kSlots; ++n) {
    size_t i = (preferred_slot + n) % kSlots;
    int idle = kIdle;
    if (slots_[i].state.load(std::memory_order_relaxed) == kIdle &&
        slots_[i].state.compare_exchange_strong(idle, kBusy, std::memory_order_acquire)) {
      if (slots_[i].epoch != epoch_.load(std::memory_order_acquire)) {
        discard(i);  // made before the key's object was found again
        continue;
      }
      preferred_slot = i;
      return KeySession(this, i, slots_[i].copy);
    }
  }
  return std::nullopt;
}

std::optional<KeySession> SessionCopies::new_copy(CK_OBJECT_HANDLE original, const std::string& where) {
  for (size_t i = 0; i < kSlots; ++i) {
    int empty = kEmpty;
    if (!slots_[i].state.compare_exchange_strong(empty, kBusy, std::memory_order_acquire)) continue;
    Slot& slot = slots_[i];
    try {
      Session session = token_.session();
      CK_BBOOL no = CK_FALSE;
      CK_ATTRIBUTE session_object{CKA_TOKEN, &no, sizeof no};
      CK_RV rv;
      {
        CallInFlight in_flight;  // the call is nested in it
        std::shared_lock<std::shared_mutex> no_search_under_way(token_.copies_and_searches());
        rv = call(token_.fn()->C_CopyObject, session.handle(), original, &session_object, 1, &slot.copy);
      }
      if (log::level() >= 2) log::write(2, where + ": C_CopyObject: " + ckr_name(rv));
      // The service went away: recovery (keys/core.h), not the token object.
      if (service_lost(rv)) checked(token_, session, rv, "C_CopyObject", where);
      if (rv != CKR_OK) {
        // This operation uses the token object. A token that forbids copies
        // (CKA_COPYABLE false) is not asked again; after any other failure
        // (memory, sessions, a device error) the next operation asks again.
        if (copy_refused(rv)) refused_ = true;
        log::write(1, where + ": no session copy (" + ckr_name(rv) + "), using the token object");
        token_.note_failure(session, rv);
        slot.state.store(kEmpty, std::memory_order_release);
        return std::nullopt;
      }
      slot.session.emplace(std::move(session));
      slot.epoch = epoch_.load(std::memory_order_acquire);
    } catch (...) {
      slot.state.store(kEmpty, std::memory_order_release);
      throw;
    }
    preferred_slot = i;
    return KeySession(this, i, slot.copy);
  }
  return std::nullopt;
}

KeySession SessionCopies::take(CK_OBJECT_HANDLE original, bool use_copies, const std::string& where) {
  bool first_use = !used_.load(std::memory_order_relaxed) && !used_.exchange(true, std::memory_order_relaxed);
  if (use_copies && !first_use && !refused_.load(std::memory_order_relaxed)) {
    if (auto idle = idle_copy()) return std::move(*idle);
    if (auto made = new_copy(original, where)) return std::move(*made);
  }
  return KeySession(token_.session(), original);
}

void SessionCopies::give_back(size_t i) {
  Slot& slot = slots_[i];
  // A broken session took its copy with it; an old epoch's copy was made
  // from an object handle that is void now.
  if (slot.session->broken() || slot.epoch != epoch_.load(std::memory_order_acquire)) return discard(i);
  slot.state.store(kIdle, std::memory_order_release);
}

void SessionCopies::discard(size_t i) {
  Slot& slot = slots_[i];
  slot.session.reset();
  slot.copy = CK_INVALID_HANDLE;
  slot.state.store(kEmpty, std::memory_order_release);
}

// Slots in use are left to their operation, and discarded when it gives them back.
void SessionCopies::forget() {
  epoch_.fetch_add(1, std::memory_order_acq_rel);
  for (size_t i = 0; i < kSlots; ++i) {
    int idle = kIdle;
    if (slots_[i].state.compare_exchange_strong(idle, kBusy, std::memory_order_acquire)) discard(i);
  }
  refused_ = false;
}

}  // namespace hsmprov
