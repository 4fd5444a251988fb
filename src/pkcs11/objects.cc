// Object search, every call checked.
#include "pkcs11/objects.h"

#include <cstring>

namespace hsmprov {

void checked(Token& token, Session& session, CK_RV rv, const char* function, const std::string& where) {
  if (rv != CKR_OK) token.note_failure(session, rv);
  check(rv, function, where);
}

std::vector<CK_OBJECT_HANDLE> find_objects(Token& token, Session& session, std::vector<CK_ATTRIBUTE> query) {
  CK_BBOOL on_token = CK_TRUE;
  query.push_back({CKA_TOKEN, &on_token, sizeof on_token});
  CK_SESSION_HANDLE h = session.handle();
  CallInFlight in_flight;  // the calls below are nested in it
  std::unique_lock<std::shared_mutex> no_copy_under_way(token.copies_and_searches());
  checked(token, session, call(token.fn()->C_FindObjectsInit, h, query.data(), query.size()), "C_FindObjectsInit",
          token.where());
  std::vector<CK_OBJECT_HANDLE> found;
  CK_OBJECT_HANDLE batch[64];
  CK_ULONG count = 0;
  CK_RV rv;
  while ((rv = call(token.fn()->C_FindObjects, h, batch, 64, &count)) == CKR_OK && count > 0)
    found.insert(found.end(), batch, batch + count);
  CK_RV final_rv = call(token.fn()->C_FindObjectsFinal, h);
  checked(token, session, rv, "C_FindObjects", token.where());
  // A search that did not end leaves the session busy: the next search on
  // it would fail (CKR_OPERATION_ACTIVE), so it is not reused.
  if (final_rv != CKR_OK) session.mark_broken();
  checked(token, session, final_rv, "C_FindObjectsFinal", token.where());
  return found;
}

}  // namespace hsmprov
