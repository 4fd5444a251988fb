// Token discovery by slot, re-binding after fork, and the account of what a
// module shows when a token is missing.
#include "pkcs11/token_directory.h"

#include <algorithm>

namespace hsmprov {
namespace {

std::string plural(size_t n, const char* word) { return std::to_string(n) + " " + word + (n == 1 ? "" : "s"); }

}  // namespace

// Most modules have a few slots: room for them saves asking for the count
// first (a round trip to a network HSM), which is asked only when they do
// not fit.
std::vector<CK_SLOT_ID> TokenDirectory::slot_list(CK_BBOOL with_token) {
  std::vector<CK_SLOT_ID> slots(8);
  CK_ULONG count = slots.size();
  CK_RV rv = call(module_.fn()->C_GetSlotList, with_token, slots.data(), &count);
  if (rv == CKR_BUFFER_TOO_SMALL) {
    check(call(module_.fn()->C_GetSlotList, with_token, nullptr, &count), "C_GetSlotList", module_.where());
    slots.resize(count);
    rv = call(module_.fn()->C_GetSlotList, with_token, slots.data(), &count);
  }
  check(rv, "C_GetSlotList", module_.where());
  slots.resize(count);
  return slots;
}

CK_TOKEN_INFO TokenDirectory::token_info(CK_SLOT_ID slot) {
  CK_TOKEN_INFO info;
  check(call(module_.fn()->C_GetTokenInfo, slot, &info), "C_GetTokenInfo", "slot " + std::to_string(slot));
  return info;
}

// Call with mutex_ held.
Token& TokenDirectory::token_for(CK_SLOT_ID slot, const CK_TOKEN_INFO& info) {
  for (auto& token : tokens_) {
    if (!token->is(info)) continue;
    if (token->slot() != slot || token->lost()) token->rebind(slot);
    return *token;
  }
  tokens_.push_back(std::make_unique<Token>(module_, slot, info));
  return *tokens_.back();
}

std::vector<Token*> TokenDirectory::present() {
  std::vector<Token*> present;
  for (CK_SLOT_ID slot : slot_list(CK_TRUE)) {
    CK_TOKEN_INFO info = token_info(slot);
    if (!(info.flags & CKF_TOKEN_INITIALIZED)) continue;
    std::lock_guard<std::mutex> lock(mutex_);
    present.push_back(&token_for(slot, info));
  }
  return present;
}

void TokenDirectory::drop_sessions() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& token : tokens_) token->drop_sessions();
}

void TokenDirectory::rebind(const std::string& when, const std::string& hint) {
  std::vector<std::pair<CK_SLOT_ID, CK_TOKEN_INFO>> now;
  for (CK_SLOT_ID slot : slot_list(CK_TRUE)) now.emplace_back(slot, token_info(slot));
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& token : tokens_) {
    token->forget_sessions();
    auto same = std::find_if(now.begin(), now.end(), [&](const auto& seen) { return token->is(seen.second); });
    if (same != now.end()) {
      token->rebind(same->first);
      continue;
    }
    token->lose(token->where() + " is not visible to this process " + when + ": " + visibility() + hint);
  }
}

std::string TokenDirectory::visibility() {
  std::vector<CK_SLOT_ID> slots = slot_list(CK_FALSE);
  std::string text = module_.where() + " shows " + plural(slots.size(), "slot") + " to " + process_user();
  std::string seen;
  size_t empty = 0, uninitialised = 0;
  for (CK_SLOT_ID slot : slots) {
    CK_TOKEN_INFO info;
    if (call(module_.fn()->C_GetTokenInfo, slot, &info) != CKR_OK) {
      ++empty;
    } else if (!(info.flags & CKF_TOKEN_INITIALIZED)) {
      ++uninitialised;
    } else {
      seen += (seen.empty() ? "" : ", ") + std::string("token '") + trimmed(info.label, sizeof info.label) + "'";
    }
  }
  if (uninitialised > 0) seen += (seen.empty() ? "" : ", ") + plural(uninitialised, "uninitialised token");
  if (empty > 0) seen += (seen.empty() ? "" : ", ") + plural(empty, "empty slot");
  return seen.empty() ? text : text + ": " + seen;
}

}  // namespace hsmprov
