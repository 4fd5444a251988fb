// Key reference encoding with OpenSSL's ASN.1 and PEM routines.
#include "keys/key_reference.h"

#include <openssl/asn1.h>
#include <openssl/pem.h>

#include "error.h"
#include "handles.h"
#include "hsmprov/hsmprov.h"
#include "pem_block.h"

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

// latchset/pkcs11-provider's key file: PEM label and the VisibleString
// that opens its DER.
constexpr const char* kPkcs11ProviderLabel = "PKCS#11 PROVIDER URI";
constexpr const char* kPkcs11ProviderKind = "PKCS#11 Provider URI v1.0";
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

bool is_key_reference_label(const std::string& label) {
  return label == HSMPROV_PEM_KEY_REFERENCE || label == kPkcs11ProviderLabel;
}

std::optional<Bytes> read_key_reference_block(BIO* in) {
  auto block = read_pem_block(in, is_key_reference_label);
  if (!block) return std::nullopt;
  return std::move(block->der);
}

std::optional<std::string> decode_key_reference(const Bytes& der) {
  const unsigned char* p = der.data();
  SequencePtr sequence(d2i_ASN1_SEQUENCE_ANY(nullptr, &p, static_cast<long>(der.size())));
  if (!sequence || p != der.data() + der.size() || sk_ASN1_TYPE_num(sequence.get()) != 2) return std::nullopt;
  std::string kind = string_of(sk_ASN1_TYPE_value(sequence.get(), 0), V_ASN1_VISIBLESTRING);
  if (kind != HSMPROV_PEM_KEY_REFERENCE && kind != kPkcs11ProviderKind) return std::nullopt;
  std::string uri = string_of(sk_ASN1_TYPE_value(sequence.get(), 1), V_ASN1_UTF8STRING);
  if (uri.rfind("pkcs11:", 0) != 0) fail(HSMPROV_R_INVALID_ARGUMENT, "the key reference holds no pkcs11: URI");
  // Read as a C string, the URI would end at the NUL and select another key
  // than its full text says.
  if (uri.find('\0') != std::string::npos)
    fail(HSMPROV_R_INVALID_ARGUMENT, "the key reference's URI holds a NUL byte");
  return uri;
}

}  // namespace hsmprov
