// Unit tests: pkcs11: URI to token match and object template mapping.
#include <cstring>

#include "error.h"
#include "uri.h"

// cmocka last: it defines a fail() macro that would shadow hsmprov::fail.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
extern "C" {
#include <cmocka.h>
}

using hsmprov::Attribute;
using hsmprov::Uri;

namespace {

const Attribute* find(const Uri& uri, CK_ATTRIBUTE_TYPE type) {
  for (const Attribute& a : uri.object_attributes())
    if (a.type == type) return &a;
  return nullptr;
}

CK_TOKEN_INFO token(const char* label) {
  CK_TOKEN_INFO info;
  std::memset(&info, ' ', sizeof info);
  std::memcpy(info.label, label, std::strlen(label));
  std::memcpy(info.manufacturerID, "SoftHSM project", 15);
  return info;
}

void object_attributes_map_to_template(void**) {
  Uri uri = Uri::parse("pkcs11:token=demo;object=my%20key;id=%01%02;type=private");
  const Attribute* label = find(uri, CKA_LABEL);
  assert_non_null(label);
  assert_int_equal(label->value.size(), 6);
  assert_memory_equal(label->value.data(), "my key", 6);
  const Attribute* id = find(uri, CKA_ID);
  assert_non_null(id);
  assert_int_equal(id->value.size(), 2);
  assert_int_equal(id->value[0], 1);
  assert_int_equal(id->value[1], 2);
  assert_true(uri.object_class().has_value());
  assert_int_equal(*uri.object_class(), CKO_PRIVATE_KEY);
  assert_true(uri.names_object());
}

void types_map_to_classes(void**) {
  assert_int_equal(*Uri::parse("pkcs11:type=public").object_class(), CKO_PUBLIC_KEY);
  assert_int_equal(*Uri::parse("pkcs11:type=cert").object_class(), CKO_CERTIFICATE);
  assert_int_equal(*Uri::parse("pkcs11:type=secret-key").object_class(), CKO_SECRET_KEY);
  assert_false(Uri::parse("pkcs11:token=demo").object_class().has_value());
  assert_false(Uri::parse("pkcs11:token=demo").names_object());
}

void token_attributes_select_tokens(void**) {
  CK_TOKEN_INFO demo = token("demo");
  CK_TOKEN_INFO other = token("other");
  Uri uri = Uri::parse("pkcs11:token=demo;manufacturer=SoftHSM%20project");
  assert_true(uri.matches_token(demo));
  assert_false(uri.matches_token(other));
  assert_true(Uri::parse("pkcs11:").matches_token(other));
  assert_false(Uri::parse("pkcs11:manufacturer=Thales").matches_token(demo));
}

void slot_id_selects_slot(void**) {
  CK_SLOT_INFO slot;
  std::memset(&slot, ' ', sizeof slot);
  Uri uri = Uri::parse("pkcs11:slot-id=7");
  assert_true(uri.matches_slot(7, [&] { return slot; }));
  assert_false(uri.matches_slot(8, [&] { return slot; }));
}

// Slot info is a PKCS#11 call (a round trip to a network HSM): asked only
// for a URI that names slot-description or slot-manufacturer.
void slot_info_is_asked_only_when_the_uri_names_it(void**) {
  CK_SLOT_INFO slot;
  std::memset(&slot, ' ', sizeof slot);
  std::memcpy(slot.slotDescription, "first", 5);
  int asked = 0;
  auto info = [&] {
    ++asked;
    return slot;
  };
  assert_true(Uri::parse("pkcs11:token=demo").matches_slot(7, info));
  assert_int_equal(asked, 0);
  assert_true(Uri::parse("pkcs11:slot-description=first").matches_slot(7, info));
  assert_false(Uri::parse("pkcs11:slot-description=second").matches_slot(7, info));
  assert_int_equal(asked, 2);
}

std::string text_of(const hsmprov::Pin& pin) {
  return std::string(reinterpret_cast<const char*>(pin.data()), pin.size());
}

void pin_attributes_are_read(void**) {
  assert_string_equal(text_of(Uri::parse("pkcs11:token=a?pin-value=1234").pin_value()).c_str(), "1234");
  // Percent-decoded, and read without the whitespace p11-kit skips (hsmprov
  // strips it before p11-kit sees the URI, so that p11-kit makes no copy).
  assert_string_equal(text_of(Uri::parse("pkcs11:token=a?pin-value=12%33\n 4").pin_value()).c_str(), "1234");
  assert_string_equal(text_of(Uri::parse(std::string("pkcs11:token=a?pin-value=%31%32%33%34")).pin_value()).c_str(), "1234");
  assert_string_equal(Uri::parse("pkcs11:token=a?pin-source=file:/etc/pin").pin_source().c_str(), "file:/etc/pin");
  assert_true(Uri::parse("pkcs11:token=a").pin_value().empty());
  // The rest of a URI with a pin-value reads as without it.
  Uri uri = Uri::parse("pkcs11:token=demo;object=k?pin-value=1234");
  assert_true(uri.names_object());
  assert_non_null(find(uri, CKA_LABEL));
}

void malformed_uris_are_refused(void**) {
  const char* bad[] = {"file:/etc/key.pem", "pkcs11:token=%zz", "pkcs11:object=a;type=nonsense", "pkcs11:id=%0"};
  for (const char* text : bad) {
    bool refused = false;
    try {
      Uri::parse(text);
    } catch (const hsmprov::Error& e) {
      refused = e.reason() == HSMPROV_R_URI;
    }
    assert_true(refused);
  }
}

std::string refusal(const char* text) {
  try {
    Uri::parse(text);
  } catch (const hsmprov::Error& e) {
    return e.reason() == HSMPROV_R_URI ? e.what() : "wrong reason";
  }
  return "accepted";
}

void uris_are_as_strict_as_documented(void**) {
  struct Case {
    const char* uri;
    const char* says;
  } cases[] = {
      {"pkcs11:token=a;object=k;object=other", "gives 'object' twice"},
      {"pkcs11:token=a;token=b", "gives 'token' twice"},
      {"pkcs11:object=k;type=private;type=public", "gives 'type' twice"},
      {"pkcs11:token=a?pin-value=1&pin-value=2", "gives 'pin-value' twice"},
      {"pkcs11:token=a?foo=bar", "unknown query attribute 'foo'"},
      {"pkcs11:token=a?module-path=/usr/lib/x.so", "names a module ('module-path')"},
      {"pkcs11:token=a?module-name=softhsm2", "names a module ('module-name')"},
      {"pkcs11:token=a;colour=blue", "unknown attribute 'colour'"},
      {"pkcs11:token=a;object=", "'object=' is empty"},
      {"pkcs11:token=a;id=;type=private", "'id=' is empty"},
      {"pkcs11:token=demo;object=ec-key%00;object=rsa-key", "'object' holds a NUL byte"},
      {"pkcs11:token=demo;object=ec-key%00x;type=private", "'object' holds a NUL byte"},
      {"pkcs11:token=de%00mo", "'token' holds a NUL byte"},
      {"PKCS11:token=a;id=%01;id=", "gives 'id' twice"},  // found by fuzz_uri: the scheme's case
      {"pk\ncs11:model=;id=t;id=", "gives 'id' twice"},   // and whitespace, which p11-kit skips
  };
  for (const Case& c : cases) {
    std::string said = refusal(c.uri);
    if (said.find(c.says) == std::string::npos) fail_msg("%s: %s (expected: %s)", c.uri, said.c_str(), c.says);
  }
  assert_string_equal(refusal("pkcs11:token=a;object=k;type=private?pin-source=file:/p").c_str(), "accepted");
  assert_string_equal(refusal("pkcs11:token=a;id=%00%01;type=private").c_str(), "accepted");  // id is bytes
}

void object_uri_round_trips(void**) {
  CK_TOKEN_INFO demo = token("demo");
  CK_OBJECT_CLASS private_key = CKO_PRIVATE_KEY;
  std::vector<Attribute> attributes = {
      {CKA_CLASS, std::vector<unsigned char>(reinterpret_cast<unsigned char*>(&private_key),
                                             reinterpret_cast<unsigned char*>(&private_key + 1))},
      {CKA_ID, {0xab, 0x01}},
      {CKA_LABEL, {'k', ' ', '1'}}};
  Uri uri = Uri::parse(hsmprov::object_uri(demo, attributes));
  assert_true(uri.matches_token(demo));
  assert_int_equal(*uri.object_class(), CKO_PRIVATE_KEY);
  assert_memory_equal(find(uri, CKA_LABEL)->value.data(), "k 1", 3);
  assert_int_equal(find(uri, CKA_ID)->value[0], 0xab);
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(object_attributes_map_to_template), cmocka_unit_test(types_map_to_classes),
      cmocka_unit_test(token_attributes_select_tokens),   cmocka_unit_test(slot_id_selects_slot),
      cmocka_unit_test(slot_info_is_asked_only_when_the_uri_names_it),
      cmocka_unit_test(pin_attributes_are_read),          cmocka_unit_test(malformed_uris_are_refused),
      cmocka_unit_test(object_uri_round_trips),           cmocka_unit_test(uris_are_as_strict_as_documented),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
