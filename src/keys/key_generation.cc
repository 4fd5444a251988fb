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
    case KeyType::ml_dsa_44:
    case KeyType::ml_dsa_65:
    case KeyType::ml_dsa_87: return CKM_ML_DSA_KEY_PAIR_GEN;
  }
  return CKM_VENDOR_DEFINED;
}

// The two templates of C_GenerateKeyPair and the values they point to: the
// private key sensitive and never extractable, the public one saying what
// to make (RSA's size and exponent, the curve, ML-DSA's parameter set).
class PairTemplates {
 public:
  PairTemplates(const KeySpec& spec, const Bytes& label, const Bytes& id)
      : label_(label), id_(id), rsa_(spec.type == KeyType::rsa ? CK_TRUE : CK_FALSE), bits_(spec.bits),
        exponent_(spec.public_exponent) {
    public_key = {{CKA_TOKEN, &yes_, 1}, {CKA_PRIVATE, &no_, 1}, {CKA_VERIFY, &yes_, 1}, {CKA_ENCRYPT, &rsa_, 1},
                  {CKA_WRAP, &no_, 1}, {CKA_LABEL, label_.data(), label_.size()}, {CKA_ID, id_.data(), id_.size()}};
    private_key = {{CKA_TOKEN, &yes_, 1}, {CKA_PRIVATE, &yes_, 1}, {CKA_SENSITIVE, &yes_, 1},
                   {CKA_EXTRACTABLE, &no_, 1}, {CKA_SIGN, &yes_, 1}, {CKA_DECRYPT, &rsa_, 1},
                   {CKA_UNWRAP, &no_, 1}, {CKA_DERIVE, &no_, 1}, {CKA_LABEL, label_.data(), label_.size()},
                   {CKA_ID, id_.data(), id_.size()}};
    if (spec.type == KeyType::rsa) {
      public_key.push_back({CKA_MODULUS_BITS, &bits_, sizeof bits_});
      public_key.push_back({CKA_PUBLIC_EXPONENT, exponent_.data(), exponent_.size()});
    } else if (is_ml_dsa(spec.type)) {
      parameter_set_ = ml_dsa_parameter_set(spec.type);
      public_key.push_back({CKA_PARAMETER_SET, &parameter_set_, sizeof parameter_set_});
    } else {
      curve_ = curve_parameters(spec.type == KeyType::ec ? spec.curve : "ED25519");
      public_key.push_back({CKA_EC_PARAMS, curve_.data(), curve_.size()});
    }
  }
  PairTemplates(const PairTemplates&) = delete;
  PairTemplates& operator=(const PairTemplates&) = delete;

  std::vector<CK_ATTRIBUTE> public_key;
  std::vector<CK_ATTRIBUTE> private_key;

 private:
  Bytes label_, id_, curve_;
  CK_BBOOL yes_ = CK_TRUE, no_ = CK_FALSE, rsa_;
  CK_ULONG bits_, parameter_set_ = 0;
  Bytes exponent_;
};

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

  PairTemplates templates(spec, label->value, id);
  CK_OBJECT_HANDLE public_key = CK_INVALID_HANDLE, private_key = CK_INVALID_HANDLE;
  checked(token, session,
          call(token.fn()->C_GenerateKeyPair, session.handle(), &mechanism, templates.public_key.data(),
               templates.public_key.size(), templates.private_key.data(), templates.private_key.size(), &public_key,
               &private_key),
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
  require_openssl_for(spec.type, "key generation");
  // A generation cut short by the token service may have made the pair:
  // it is never repeated on its own (that could make a second one).
  return core.with_recovery(nullptr, Retry::never, [&] { return generate_on_token(core, spec, uri, label, prompt); });
}

}  // namespace hsmprov
