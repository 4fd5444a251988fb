// Reading an object's attributes in as few calls as the standard allows:
// across a network every C_GetAttributeValue is a round trip. One call
// gives the fixed-size values (CK_ULONG, CK_BBOOL) and the lengths of the
// others; a second gives those others' values. A token may mark entries it
// cannot give (CK_UNAVAILABLE_INFORMATION, the call then answering
// CKR_ATTRIBUTE_TYPE_INVALID or CKR_ATTRIBUTE_SENSITIVE) and fill the rest,
// as PKCS#11 says; one that fails the whole call instead is asked one
// attribute at a time.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "bytes.h"
#include "pkcs11/session_pool.h"

namespace hsmprov {

class Token;

// What one object gave; an attribute it does not have, or will not give, is absent.
class Attributes {
 public:
  std::optional<Bytes> bytes(CK_ATTRIBUTE_TYPE type) const;
  Bytes bytes_or_empty(CK_ATTRIBUTE_TYPE type) const { return bytes(type).value_or(Bytes()); }
  std::optional<CK_ULONG> ulong(CK_ATTRIBUTE_TYPE type) const;
  bool flag(CK_ATTRIBUTE_TYPE type) const;  // false when absent
  bool has(CK_ATTRIBUTE_TYPE type) const { return values_.count(type) != 0; }

  void set(CK_ATTRIBUTE_TYPE type, Bytes value) { values_[type] = std::move(value); }

 private:
  std::map<CK_ATTRIBUTE_TYPE, Bytes> values_;
};

// An object's attributes read in two steps, so that the caller can decide
// after the first, from the fixed-size values (its class, say), which of
// the others it wants: a secret key's CKA_VALUE is never fetched.
class AttributeRead {
 public:
  // First call: the fixed-size values of `types` and the lengths of the rest.
  AttributeRead(Token& token, Session& session, CK_OBJECT_HANDLE object, std::vector<CK_ATTRIBUTE_TYPE> types);
  // Second call (none if nothing is left to read): the values of the
  // variable-length attributes `wanted` keeps.
  void fetch(const std::function<bool(CK_ATTRIBUTE_TYPE)>& wanted);
  void fetch_all() {
    fetch([](CK_ATTRIBUTE_TYPE) { return true; });
  }
  const Attributes& values() const { return values_; }
  CK_OBJECT_HANDLE object() const { return object_; }

 private:
  CK_RV get(std::vector<CK_ATTRIBUTE>& entries);
  void one_at_a_time(const std::vector<CK_ATTRIBUTE_TYPE>& types, bool sizes_only);

  Token& token_;
  Session& session_;
  CK_OBJECT_HANDLE object_;
  Attributes values_;
  std::map<CK_ATTRIBUTE_TYPE, CK_ULONG> lengths_;  // variable-length attributes the token has
};

// Both steps, every attribute.
Attributes read_attributes(Token& token, Session& session, CK_OBJECT_HANDLE object,
                           std::vector<CK_ATTRIBUTE_TYPE> types);

}  // namespace hsmprov
