// Attribute reads in two calls per object, with the standard's partial
// answers and a fallback for tokens that fail the whole call.
#include "pkcs11/attributes.h"

#include <cstring>

#include "pkcs11/objects.h"

namespace hsmprov {
namespace {

// The attributes whose size the standard fixes: their values come with the first call.
size_t fixed_size(CK_ATTRIBUTE_TYPE type) {
  switch (type) {
    case CKA_CLASS:
    case CKA_KEY_TYPE:
    case CKA_CERTIFICATE_TYPE:
    case CKA_VALUE_LEN:
    case CKA_MODULUS_BITS:
    case CKA_PARAMETER_SET:
      return sizeof(CK_ULONG);
    case CKA_TOKEN:
    case CKA_PRIVATE:
    case CKA_SENSITIVE:
    case CKA_EXTRACTABLE:
    case CKA_ALWAYS_SENSITIVE:
    case CKA_NEVER_EXTRACTABLE:
    case CKA_LOCAL:
    case CKA_ALWAYS_AUTHENTICATE:
    case CKA_WRAP_WITH_TRUSTED:
    case CKA_TRUSTED:
      return sizeof(CK_BBOOL);
    default:
      return 0;
  }
}

// The answers that concern single entries, not the object or the session.
bool per_entry(CK_RV rv) {
  return rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE || rv == CKR_BUFFER_TOO_SMALL;
}

bool given(const CK_ATTRIBUTE& entry) { return entry.ulValueLen != CK_UNAVAILABLE_INFORMATION; }

}  // namespace

std::optional<Bytes> Attributes::bytes(CK_ATTRIBUTE_TYPE type) const {
  auto found = values_.find(type);
  if (found == values_.end()) return std::nullopt;
  return found->second;
}

std::optional<CK_ULONG> Attributes::ulong(CK_ATTRIBUTE_TYPE type) const {
  auto found = values_.find(type);
  if (found == values_.end() || found->second.size() != sizeof(CK_ULONG)) return std::nullopt;
  CK_ULONG value;
  std::memcpy(&value, found->second.data(), sizeof value);
  return value;
}

bool Attributes::flag(CK_ATTRIBUTE_TYPE type) const {
  auto found = values_.find(type);
  return found != values_.end() && found->second.size() == 1 && found->second[0] != 0;
}

// One C_GetAttributeValue. CKR_OK when the token answered entry by entry
// (all given, or the ones it cannot give marked); its code when it failed
// the whole call without saying which entry was at fault. Throws other
// failures.
CK_RV AttributeRead::get(std::vector<CK_ATTRIBUTE>& entries) {
  CK_RV rv = call(token_.fn()->C_GetAttributeValue, session_.handle(), object_, entries.data(), entries.size());
  if (rv == CKR_OK) return CKR_OK;
  if (!per_entry(rv)) checked(token_, session_, rv, "C_GetAttributeValue", token_.where());
  for (const CK_ATTRIBUTE& entry : entries)
    if (!given(entry)) return CKR_OK;  // the standard's partial answer
  return rv;
}

AttributeRead::AttributeRead(Token& token, Session& session, CK_OBJECT_HANDLE object,
                             std::vector<CK_ATTRIBUTE_TYPE> types)
    : token_(token), session_(session), object_(object) {
  std::vector<CK_ULONG> fixed(types.size());  // room for a CK_ULONG or a CK_BBOOL each
  std::vector<CK_ATTRIBUTE> entries;
  for (size_t i = 0; i < types.size(); ++i) {
    size_t size = fixed_size(types[i]);
    entries.push_back({types[i], size ? &fixed[i] : nullptr, size});
  }
  if (get(entries) != CKR_OK) {
    one_at_a_time(types, true);
    return;
  }
  for (const CK_ATTRIBUTE& entry : entries) {
    if (!given(entry)) continue;
    if (entry.pValue == nullptr) {
      lengths_[entry.type] = entry.ulValueLen;
    } else {
      auto* value = static_cast<const unsigned char*>(entry.pValue);
      values_.set(entry.type, Bytes(value, value + entry.ulValueLen));
    }
  }
}

void AttributeRead::fetch(const std::function<bool(CK_ATTRIBUTE_TYPE)>& wanted) {
  std::vector<std::pair<CK_ATTRIBUTE_TYPE, Bytes>> buffers;
  for (const auto& [type, length] : lengths_) {
    if (!wanted(type)) continue;
    if (length == 0) {
      values_.set(type, Bytes());
    } else {
      buffers.emplace_back(type, Bytes(length));
    }
  }
  lengths_.clear();
  if (buffers.empty()) return;
  std::vector<CK_ATTRIBUTE> entries;
  for (auto& [type, buffer] : buffers) entries.push_back({type, buffer.data(), buffer.size()});
  if (get(entries) != CKR_OK) {
    std::vector<CK_ATTRIBUTE_TYPE> types;
    for (const auto& entry : entries) types.push_back(entry.type);
    return one_at_a_time(types, false);
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!given(entries[i])) continue;
    buffers[i].second.resize(entries[i].ulValueLen);
    values_.set(entries[i].type, std::move(buffers[i].second));
  }
}

// For tokens that fail a call as a whole when one attribute is missing:
// each attribute on its own, its length and then its value.
void AttributeRead::one_at_a_time(const std::vector<CK_ATTRIBUTE_TYPE>& types, bool sizes_only) {
  for (CK_ATTRIBUTE_TYPE type : types) {
    CK_ATTRIBUTE entry{type, nullptr, 0};
    std::vector<CK_ATTRIBUTE> one = {entry};
    if (get(one) != CKR_OK || !given(one[0])) continue;
    if (sizes_only && fixed_size(type) == 0) {
      lengths_[type] = one[0].ulValueLen;
      continue;
    }
    Bytes value(one[0].ulValueLen);
    one[0].pValue = value.data();
    if (!value.empty() && (get(one) != CKR_OK || !given(one[0]))) continue;
    value.resize(one[0].ulValueLen);
    values_.set(type, std::move(value));
  }
}

Attributes read_attributes(Token& token, Session& session, CK_OBJECT_HANDLE object,
                           std::vector<CK_ATTRIBUTE_TYPE> types) {
  AttributeRead read(token, session, object, std::move(types));
  read.fetch_all();
  return read.values();
}

}  // namespace hsmprov
