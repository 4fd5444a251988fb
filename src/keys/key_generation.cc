// C_GenerateKeyPair with templates that keep the private key in the token.
#include "keys/key_generation.h"

#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/rand.h>

#include "error.h"
#include "log.h"
#include "pkcs11/ckr_names.h"

namespace hsmprov {
namespace {

Token& only_token(Core& core, const Uri& uri) {
  std::vector<Token*> tokens = core.tokens(uri);
  if (tokens.empty()) core.no_token("key generation: no token matches the pkcs11: URI");
  if (tokens.size() > 1)
    fail(HSMPROV_R_AMBIGUOUS, "key generation: the pkcs11: URI matches " + std::to_string(tokens.size()) +
                                  " tokens: name one with token= or serial=");
  return *tokens.front();
}

const Attribute* find_attribute(const Uri& uri, CK_ATTRIBUTE_TYPE type) {
  for (const Attribute& a : uri.object_attributes())
    if (a.type == type) return &a;
  return nullptr;
}

void refuse_if_used(Token& token, Session& session, const Attribute& attribute, const std::string& what) {
  std::vector<Attribute> query = {attribute};
  if (!find_objects(token, session, as_template(query)).empty())
    fail(HSMPROV_R_EXISTS, token.where() + ": an object with " + what +
                               " already exists; nothing was generated or overwritten");
}

// A pair that was generated but cannot be handed out is removed, so that a
// failed genpkey leaves the token as it was. On a session of its own: the
// one that failed may be unusable.
void remove_new_pair(Token& token, const std::vector<CK_OBJECT_HANDLE>& objects) {
  try {
    Session session = token.session();
    for (CK_OBJECT_HANDLE object : objects) {
      CK_RV rv = call(token.fn()->C_DestroyObject, session.handle(), object);
      if (rv != CKR_OK) log::write(1, token.where() + ": cannot remove a new key's object: C_DestroyObject: " + ckr_name(rv));
    }
  } catch (const Error& e) {
    log::write(1, token.where() + ": cannot remove a new key pair: " + e.what());
  }
}

CK_MECHANISM_TYPE generation_mechanism(KeyType type) {
  switch (type) {
    case KeyType::rsa: return CKM_RSA_PKCS_KEY_PAIR_GEN;
    case KeyType::ec: return CKM_EC_KEY_PAIR_GEN;
    case KeyType::ed25519: return CKM_EC_EDWARDS_KEY_PAIR_GEN;
  }
  return CKM_VENDOR_DEFINED;
}

}  // namespace

Bytes curve_parameters(const std::string& curve) {
  int nid = EC_curve_nist2nid(curve.c_str());
  if (nid == NID_undef) nid = OBJ_txt2nid(curve.c_str());
  if (nid == NID_undef) fail(HSMPROV_R_UNSUPPORTED, "unknown curve '" + curve + "'");
  const ASN1_OBJECT* oid = OBJ_nid2obj(nid);
  int size = i2d_ASN1_OBJECT(oid, nullptr);
  Bytes der(static_cast<size_t>(size));
  unsigned char* p = der.data();
  i2d_ASN1_OBJECT(oid, &p);
  return der;
}

namespace {

std::shared_ptr<Key> generate_on_token(Core& core, const KeySpec& spec, const Uri& uri, const Attribute* label,
                                       const PinPrompt& prompt) {
  Token& token = only_token(core, uri);
  CK_MECHANISM mechanism{generation_mechanism(spec.type), nullptr, 0};
  if (!token.has_mechanism(mechanism.mechanism))
    fail(HSMPROV_R_UNSUPPORTED, token.where() + " cannot generate " + key_type_name(spec.type) + " keys");
  core.log_in(token, uri, prompt);
  Session session = token.session();
  std::string name(label->value.begin(), label->value.end());
  refuse_if_used(token, session, *label, "the label '" + name + "'");
  Bytes id(16);
  if (const Attribute* given = find_attribute(uri, CKA_ID)) {
    id = given->value;
    refuse_if_used(token, session, *given, "the id given");
  } else if (RAND_bytes(id.data(), static_cast<int>(id.size())) != 1) {
    fail(HSMPROV_R_INTERNAL, "no random bytes for the key id");
  }

  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  CK_ULONG bits = spec.bits;
  Bytes params = spec.type == KeyType::ec ? curve_parameters(spec.curve)
                 : spec.type == KeyType::ed25519 ? curve_parameters("ED25519") : Bytes();
  Bytes exponent = spec.public_exponent;
  CK_BBOOL is_rsa = spec.type == KeyType::rsa ? CK_TRUE : CK_FALSE;
  std::vector<CK_ATTRIBUTE> public_template = {
      {CKA_TOKEN, &yes, 1}, {CKA_PRIVATE, &no, 1}, {CKA_VERIFY, &yes, 1}, {CKA_ENCRYPT, &is_rsa, 1},
      {CKA_WRAP, &no, 1},
      {CKA_LABEL, const_cast<unsigned char*>(label->value.data()), label->value.size()},
      {CKA_ID, id.data(), id.size()}};
  if (spec.type == KeyType::rsa) {
    public_template.push_back({CKA_MODULUS_BITS, &bits, sizeof bits});
    public_template.push_back({CKA_PUBLIC_EXPONENT, exponent.data(), exponent.size()});
  } else {
    public_template.push_back({CKA_EC_PARAMS, params.data(), params.size()});
  }
  std::vector<CK_ATTRIBUTE> private_template = {
      {CKA_TOKEN, &yes, 1}, {CKA_PRIVATE, &yes, 1}, {CKA_SENSITIVE, &yes, 1}, {CKA_EXTRACTABLE, &no, 1},
      {CKA_SIGN, &yes, 1}, {CKA_DECRYPT, &is_rsa, 1}, {CKA_UNWRAP, &no, 1}, {CKA_DERIVE, &no, 1},
      {CKA_LABEL, const_cast<unsigned char*>(label->value.data()), label->value.size()},
      {CKA_ID, id.data(), id.size()}};
  CK_OBJECT_HANDLE public_key = CK_INVALID_HANDLE, private_key = CK_INVALID_HANDLE;
  checked(token, session,
          call(token.fn()->C_GenerateKeyPair, session.handle(), &mechanism, public_template.data(), public_template.size(),
                                        private_template.data(), private_template.size(), &public_key, &private_key),
          "C_GenerateKeyPair", token.where() + ", new key '" + name + "'");
  try {
    return new_pair_key(core, token, session, private_key, public_key);
  } catch (...) {
    remove_new_pair(token, {public_key, private_key});
    throw;
  }
}

}  // namespace

std::shared_ptr<Key> generate_key(Core& core, const KeySpec& spec, const PinPrompt& prompt) {
  if (spec.uri.empty())
    fail(HSMPROV_R_INVALID_ARGUMENT, "key generation needs -pkeyopt pkcs11_uri:'pkcs11:token=...;object=NAME'");
  Uri uri = Uri::parse(spec.uri);
  const Attribute* label = find_attribute(uri, CKA_LABEL);
  if (label == nullptr || label->value.empty())
    fail(HSMPROV_R_INVALID_ARGUMENT, "key generation: the pkcs11: URI must name the new key with object=");
  // A generation cut short by the token service may have made the pair:
  // it is never repeated on its own (that could make a second one).
  return core.with_recovery(nullptr, Retry::never, [&] { return generate_on_token(core, spec, uri, label, prompt); });
}

}  // namespace hsmprov
