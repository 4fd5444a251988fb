// Key reference encoding with OpenSSL's ASN.1 and PEM routines.
#include "keys/key_reference.h"

#include <algorithm>
#include <cstring>

#include <openssl/asn1.h>
#include <openssl/pem.h>

#include "error.h"
#include "handles.h"
#include "hsmprov/hsmprov.h"

namespace hsmprov {
namespace {

void free_sequence(ASN1_SEQUENCE_ANY* s) { sk_ASN1_TYPE_pop_free(s, ASN1_TYPE_free); }
using SequencePtr = std::unique_ptr<ASN1_SEQUENCE_ANY, Deleter<ASN1_SEQUENCE_ANY, free_sequence>>;

bool push_string(ASN1_SEQUENCE_ANY* sequence, int type, const std::string& value) {
  ASN1_STRING* s = ASN1_STRING_type_new(type);
  ASN1_TYPE* item = ASN1_TYPE_new();
  if (s == nullptr || item == nullptr || !ASN1_STRING_set(s, value.data(), static_cast<int>(value.size()))) {
    ASN1_STRING_free(s);
    ASN1_TYPE_free(item);
    return false;
  }
  ASN1_TYPE_set(item, type, s);
  return sk_ASN1_TYPE_push(sequence, item) > 0;
}

std::string string_of(const ASN1_TYPE* item, int type) {
  if (item == nullptr || item->type != type) return {};
  const ASN1_STRING* s = item->value.asn1_string;
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), static_cast<size_t>(ASN1_STRING_length(s)));
}

}  // namespace

std::string encode_key_reference(const std::string& uri) {
  SequencePtr sequence(sk_ASN1_TYPE_new_null());
  unsigned char* der = nullptr;
  int size = 0;
  if (!sequence || !push_string(sequence.get(), V_ASN1_VISIBLESTRING, HSMPROV_PEM_KEY_REFERENCE) ||
      !push_string(sequence.get(), V_ASN1_UTF8STRING, uri) || (size = i2d_ASN1_SEQUENCE_ANY(sequence.get(), &der)) <= 0)
    fail(HSMPROV_R_INTERNAL, "cannot encode the key reference");
  BioPtr out(BIO_new(BIO_s_mem()));
  bool ok = out && PEM_write_bio(out.get(), HSMPROV_PEM_KEY_REFERENCE, "", der, size);
  OPENSSL_free(der);
  if (!ok) fail(HSMPROV_R_INTERNAL, "cannot write the key reference");
  char* data = nullptr;
  long length = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<size_t>(length));
}

std::optional<Bytes> key_reference_der(const Bytes& pem) {
  static const std::string begin = "-----BEGIN " HSMPROV_PEM_KEY_REFERENCE "-----";
  if (std::search(pem.begin(), pem.end(), begin.begin(), begin.end()) == pem.end()) return std::nullopt;
  BioPtr in(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* body = nullptr;
  long size = 0;
  if (!in || PEM_read_bio(in.get(), &name, &header, &body, &size) != 1)
    fail(HSMPROV_R_INVALID_ARGUMENT, "the " HSMPROV_PEM_KEY_REFERENCE " block is damaged");
  bool ours = std::strcmp(name, HSMPROV_PEM_KEY_REFERENCE) == 0;
  Bytes der(body, body + size);
  OPENSSL_free(name);
  OPENSSL_free(header);
  OPENSSL_free(body);
  if (!ours) fail(HSMPROV_R_INVALID_ARGUMENT, "another PEM block stands before the " HSMPROV_PEM_KEY_REFERENCE);
  return der;
}

std::optional<std::string> decode_key_reference(const Bytes& der) {
  const unsigned char* p = der.data();
  SequencePtr sequence(d2i_ASN1_SEQUENCE_ANY(nullptr, &p, static_cast<long>(der.size())));
  if (!sequence || p != der.data() + der.size() || sk_ASN1_TYPE_num(sequence.get()) != 2 ||
      string_of(sk_ASN1_TYPE_value(sequence.get(), 0), V_ASN1_VISIBLESTRING) != HSMPROV_PEM_KEY_REFERENCE)
    return std::nullopt;
  std::string uri = string_of(sk_ASN1_TYPE_value(sequence.get(), 1), V_ASN1_UTF8STRING);
  if (uri.rfind("pkcs11:", 0) != 0) fail(HSMPROV_R_INVALID_ARGUMENT, "the key reference holds no pkcs11: URI");
  return uri;
}

}  // namespace hsmprov
