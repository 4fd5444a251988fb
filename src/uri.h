// RFC 7512 pkcs11: URIs, parsed by p11-kit (loaded with the first URI):
// which tokens a URI selects, the object search template it gives, and its
// PIN attributes.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <p11-kit/uri.h>

#include "pkcs11/p11.h"

namespace hsmprov {

struct Attribute {
  CK_ATTRIBUTE_TYPE type;
  std::vector<unsigned char> value;
};

class Uri {
 public:
  // Throws Error(HSMPROV_R_URI) for a malformed URI or an attribute p11-kit
  // does not know (it would silently match nothing).
  static Uri parse(const std::string& text);

  bool matches_token(const CK_TOKEN_INFO& token) const;
  bool matches_slot(CK_SLOT_ID id, const CK_SLOT_INFO& slot) const;
  bool matches_module(const CK_INFO& module) const;

  // CKA_CLASS (type=), CKA_LABEL (object=), CKA_ID (id=), as given.
  const std::vector<Attribute>& object_attributes() const { return attributes_; }
  std::optional<CK_OBJECT_CLASS> object_class() const;
  // object= or id= given: the URI names one object rather than listing.
  bool names_object() const;

  std::string pin_value() const;
  std::string pin_source() const;
  const std::string& text() const { return text_; }

 private:
  using Handle = std::unique_ptr<P11KitUri, decltype(&p11_kit_uri_free)>;
  explicit Uri(Handle handle, std::string text);

  std::shared_ptr<P11KitUri> uri_;
  std::string text_;
  std::vector<Attribute> attributes_;
};

// A pkcs11: URI naming one object on one token, for references we write.
std::string object_uri(const CK_TOKEN_INFO& token, const std::vector<Attribute>& attributes);

// A CK_ULONG-valued attribute such as CKA_CLASS.
Attribute ulong_attribute(CK_ATTRIBUTE_TYPE type, CK_ULONG value);

// Builds a CK_ATTRIBUTE array pointing into `attributes` (which must outlive it).
std::vector<CK_ATTRIBUTE> as_template(std::vector<Attribute>& attributes);

}  // namespace hsmprov
