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
  assert_true(uri.matches_slot(7, slot));
  assert_false(uri.matches_slot(8, slot));
}

void pin_attributes_are_read(void**) {
  assert_string_equal(Uri::parse("pkcs11:token=a?pin-value=1234").pin_value().c_str(), "1234");
  assert_string_equal(Uri::parse("pkcs11:token=a?pin-source=file:/etc/pin").pin_source().c_str(), "file:/etc/pin");
  assert_true(Uri::parse("pkcs11:token=a").pin_value().empty());
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
      cmocka_unit_test(pin_attributes_are_read),          cmocka_unit_test(malformed_uris_are_refused),
      cmocka_unit_test(object_uri_round_trips),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
