// Reading token objects: search by template and attribute values.
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

// nullopt when the object has no such attribute or it is sensitive.
std::optional<Bytes> read_attribute(Token& token, Session& session, CK_OBJECT_HANDLE object,
                                    CK_ATTRIBUTE_TYPE type);
std::optional<CK_ULONG> read_ulong(Token& token, Session& session, CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type);
bool read_bool(Token& token, Session& session, CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type);

// A C_* call's result on `session`: on failure the session is classified
// (broken, logged out) and an Error naming `where` and `function` is thrown.
void checked(Token& token, Session& session, CK_RV rv, const char* function, const std::string& where);

}  // namespace hsmprov
