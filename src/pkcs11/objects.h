// Finding token objects by template (their attributes: attributes.h), and
// the checked call every session-bound C_* result goes through.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "bytes.h"
#include "pkcs11/token.h"

namespace hsmprov {

// Token objects only: the session objects we make (key copies, a KMS key for
// one wrap, ephemeral keys) are visible to every session of this process
// and would otherwise match a URI a second time.
std::vector<CK_OBJECT_HANDLE> find_objects(Token& token, Session& session, std::vector<CK_ATTRIBUTE> query);

// A C_* call's result on `session`: on failure the session is classified
// (broken, logged out) and an Error naming `where` and `function` is thrown.
void checked(Token& token, Session& session, CK_RV rv, const char* function, const std::string& where);

}  // namespace hsmprov
