// RFC 7512 pkcs11: URIs, parsed by p11-kit (loaded with the first URI):
// which tokens a URI selects, the object search template it gives, and its
// PIN attributes.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <p11-kit/uri.h>

#include "pin.h"
#include "pkcs11/p11.h"

namespace hsmprov {

struct Attribute {
  CK_ATTRIBUTE_TYPE type;
  std::vector<unsigned char> value;
};

// Move-only: a pin-value is held in its locked page (see pin_value()).
class Uri {
 public:
  // Throws Error(HSMPROV_R_URI) for a malformed URI or an attribute p11-kit
  // does not know (it would silently match nothing). The text is read where
  // it is: the only copies made of it are wiped before parse() returns.
  static Uri parse(const char* text);
  static Uri parse(const std::string& text);  // refuses a NUL inside

  bool matches_token(const CK_TOKEN_INFO& token) const;
  // The slot's info is asked for (a PKCS#11 call) only when the URI names
  // slot-description or slot-manufacturer.
  bool matches_slot(CK_SLOT_ID id, const std::function<CK_SLOT_INFO()>& slot_info) const;
  bool matches_module(const CK_INFO& module) const;

  // CKA_CLASS (type=), CKA_LABEL (object=), CKA_ID (id=), as given.
  const std::vector<Attribute>& object_attributes() const { return attributes_; }
  std::optional<CK_OBJECT_CLASS> object_class() const;
  // object= or id= given: the URI names one object rather than listing.
  bool names_object() const;

  // The pin-value, decoded; p11-kit's copy of it is wiped and dropped in
  // parse(). Empty without one.
  const Pin& pin_value() const { return pin_value_; }
  std::string pin_source() const;

 private:
  // Frees a parsed URI, wiping a pin-value p11-kit still holds first.
  struct Free {
    void operator()(P11KitUri* uri) const;
  };
  using Handle = std::unique_ptr<P11KitUri, Free>;
  Uri(Handle handle, Pin pin_value);

  Handle uri_;
  Pin pin_value_;
  std::vector<Attribute> attributes_;
};

// A pkcs11: URI naming one object on one token, for references we write.
std::string object_uri(const CK_TOKEN_INFO& token, const std::vector<Attribute>& attributes);

// A CK_ULONG-valued attribute such as CKA_CLASS.
Attribute ulong_attribute(CK_ATTRIBUTE_TYPE type, CK_ULONG value);

// Builds a CK_ATTRIBUTE array pointing into `attributes` (which must outlive it).
std::vector<CK_ATTRIBUTE> as_template(std::vector<Attribute>& attributes);

}  // namespace hsmprov
