// pkcs11: URI handling over p11-kit's parser.
#include "uri.h"

#include <cstdlib>
#include <cstring>

#include "error.h"

namespace hsmprov {

Uri::Uri(Handle handle, std::string text) : uri_(handle.release(), &p11_kit_uri_free), text_(std::move(text)) {
  CK_ULONG count = 0;
  CK_ATTRIBUTE* attrs = p11_kit_uri_get_attributes(uri_.get(), &count);
  for (CK_ULONG i = 0; i < count; ++i) {
    auto* bytes = static_cast<unsigned char*>(attrs[i].pValue);
    attributes_.push_back({attrs[i].type, std::vector<unsigned char>(bytes, bytes + attrs[i].ulValueLen)});
  }
}

Uri Uri::parse(const std::string& text) {
  Handle handle(p11_kit_uri_new(), &p11_kit_uri_free);
  int rc = p11_kit_uri_parse(text.c_str(), P11_KIT_URI_FOR_ANY, handle.get());
  if (rc != P11_KIT_URI_OK)
    fail(HSMPROV_R_URI, "malformed pkcs11: URI: " + std::string(p11_kit_uri_message(rc)));
  if (p11_kit_uri_any_unrecognized(handle.get()))
    fail(HSMPROV_R_URI, "the pkcs11: URI has an attribute this provider does not know");
  return Uri(std::move(handle), text);
}

bool Uri::matches_token(const CK_TOKEN_INFO& token) const {
  return p11_kit_uri_match_token_info(uri_.get(), &token) == 1;
}

bool Uri::matches_slot(CK_SLOT_ID id, const CK_SLOT_INFO& slot) const {
  CK_SLOT_ID wanted = p11_kit_uri_get_slot_id(uri_.get());
  if (wanted != static_cast<CK_SLOT_ID>(-1) && wanted != id) return false;
  return p11_kit_uri_match_slot_info(uri_.get(), &slot) == 1;
}

bool Uri::matches_module(const CK_INFO& module) const {
  return p11_kit_uri_match_module_info(uri_.get(), &module) == 1;
}

std::optional<CK_OBJECT_CLASS> Uri::object_class() const {
  for (const Attribute& a : attributes_) {
    if (a.type == CKA_CLASS && a.value.size() == sizeof(CK_OBJECT_CLASS)) {
      CK_OBJECT_CLASS c;
      std::memcpy(&c, a.value.data(), sizeof c);
      return c;
    }
  }
  return std::nullopt;
}

bool Uri::names_object() const {
  for (const Attribute& a : attributes_)
    if (a.type == CKA_LABEL || a.type == CKA_ID) return true;
  return false;
}

std::string Uri::pin_value() const {
  const char* v = p11_kit_uri_get_pin_value(uri_.get());
  return v ? v : "";
}

std::string Uri::pin_source() const {
  const char* v = p11_kit_uri_get_pin_source(uri_.get());
  return v ? v : "";
}

Attribute ulong_attribute(CK_ATTRIBUTE_TYPE type, CK_ULONG value) {
  std::vector<unsigned char> bytes(sizeof value);
  std::memcpy(bytes.data(), &value, sizeof value);
  return {type, bytes};
}

std::vector<CK_ATTRIBUTE> as_template(std::vector<Attribute>& attributes) {
  std::vector<CK_ATTRIBUTE> out;
  for (Attribute& a : attributes) out.push_back({a.type, a.value.data(), a.value.size()});
  return out;
}

std::string object_uri(const CK_TOKEN_INFO& token, const std::vector<Attribute>& attributes) {
  std::unique_ptr<P11KitUri, decltype(&p11_kit_uri_free)> uri(p11_kit_uri_new(), &p11_kit_uri_free);
  CK_TOKEN_INFO* info = p11_kit_uri_get_token_info(uri.get());
  std::memcpy(info->label, token.label, sizeof info->label);
  std::memcpy(info->manufacturerID, token.manufacturerID, sizeof info->manufacturerID);
  std::memcpy(info->model, token.model, sizeof info->model);
  std::memcpy(info->serialNumber, token.serialNumber, sizeof info->serialNumber);
  std::vector<Attribute> copy = attributes;
  for (CK_ATTRIBUTE& a : as_template(copy)) p11_kit_uri_set_attribute(uri.get(), &a);
  char* text = nullptr;
  if (p11_kit_uri_format(uri.get(), P11_KIT_URI_FOR_OBJECT_ON_TOKEN, &text) != P11_KIT_URI_OK)
    fail(HSMPROV_R_INTERNAL, "cannot format a pkcs11: URI");
  std::string result(text);
  std::free(text);
  return result;
}

}  // namespace hsmprov
