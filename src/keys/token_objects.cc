// Object search and reading for the store, key generation and keys found
// again: each object's attributes in one batch, public halves from the
// objects already found.
#include "keys/token_objects.h"

#include <algorithm>
#include <deque>
#include <iterator>

#include "error.h"
#include "keys/core.h"
#include "keys/ml_dsa.h"
#include "keys/public_key.h"
#include "log.h"

namespace hsmprov {
namespace {

// Everything the store and the keys use of an object; its first read gives
// the fixed-size ones and the lengths of the others.
constexpr CK_ATTRIBUTE_TYPE kAttributes[] = {
    CKA_CLASS,     CKA_KEY_TYPE, CKA_CERTIFICATE_TYPE, CKA_ALWAYS_AUTHENTICATE, CKA_PARAMETER_SET,  CKA_LABEL, CKA_ID,
    CKA_VALUE,     CKA_MODULUS,  CKA_PUBLIC_EXPONENT,  CKA_EC_PARAMS,           CKA_EC_POINT, CKA_PUBLIC_KEY_INFO};

// What is fetched of an object of a class: never a private or secret key's
// CKA_VALUE (it is the key itself), nothing of other classes. A public
// key's CKA_VALUE is public: an ML-DSA public key's raw bytes.
bool fetched_for(std::optional<CK_ULONG> object_class, CK_ATTRIBUTE_TYPE type) {
  if (object_class == CKO_CERTIFICATE) return type == CKA_LABEL || type == CKA_ID || type == CKA_VALUE;
  if (object_class == CKO_PRIVATE_KEY) return type != CKA_VALUE;
  return object_class == CKO_PUBLIC_KEY;
}

// An ML-DSA key without CKA_PARAMETER_SET is taken as ML-DSA-65 until its
// public key says which of the three it is.
std::optional<KeyType> declared_type(const Attributes& attributes) {
  switch (attributes.ulong(CKA_KEY_TYPE).value_or(CKK_VENDOR_DEFINED)) {
    case CKK_RSA: return KeyType::rsa;
    case CKK_EC: return KeyType::ec;
    case CKK_EC_EDWARDS: return KeyType::ed25519;
    case CKK_ML_DSA:
      return ml_dsa_with_parameter_set(attributes.ulong(CKA_PARAMETER_SET).value_or(0)).value_or(KeyType::ml_dsa_65);
    default: return std::nullopt;
  }
}

std::string text(const Bytes& bytes) { return std::string(bytes.begin(), bytes.end()); }

// Which ML-DSA the public key is; it must be the one CKA_PARAMETER_SET names, if the token gives it.
KeyType ml_dsa_type_of(const EVP_PKEY* public_key, const Attributes& attributes, const std::string& where) {
  for (KeyType type : {KeyType::ml_dsa_44, KeyType::ml_dsa_65, KeyType::ml_dsa_87}) {
    if (!EVP_PKEY_is_a(public_key, key_type_name(type))) continue;
    std::optional<CK_ULONG> declared = attributes.ulong(CKA_PARAMETER_SET);
    if (declared && *declared != ml_dsa_parameter_set(type))
      fail(HSMPROV_R_UNSUPPORTED, where + ": CKA_PARAMETER_SET " + std::to_string(*declared) + " does not match its " +
                                      key_type_name(type) + " public key");
    return type;
  }
  fail(HSMPROV_R_UNSUPPORTED, where + ": an ML-DSA key whose public key is not ML-DSA");
}

// The objects of one search (or of given handles), each read at most once.
class Objects {
 public:
  Objects(Core& core, Token& token, Session& session) : core_(core), token_(token), session_(session) {}

  void search(std::vector<Attribute> query) {
    for (CK_OBJECT_HANDLE handle : find_objects(token_, session_, as_template(query))) add(handle);
  }
  void add(CK_OBJECT_HANDLE handle) { objects_.push_back({handle, std::nullopt, false}); }

  std::vector<Found> usable(const std::vector<CK_OBJECT_CLASS>& wanted);
  std::shared_ptr<Key> key(size_t index);

 private:
  // Read on first need: its first call when its class is asked, its second
  // when its other attributes are.
  struct Object {
    CK_OBJECT_HANDLE handle;
    std::optional<AttributeRead> read;
    bool complete = false;
  };

  std::optional<CK_ULONG> object_class(Object& object);
  const Attributes& complete(Object& object);
  std::string where(const Attributes& attributes) const;
  EvpPkeyPtr public_half(Object& key, KeyType type);
  EvpPkeyPtr from_public_value(const Attributes& key, const Attributes& holder, KeyType type);
  EvpPkeyPtr from_point(const Attributes& key, const Attributes& holder, KeyType type);
  EvpPkeyPtr from_peers(Object& key, KeyType type);
  EvpPkeyPtr from_peer_search(Object& key, KeyType type);

  Core& core_;
  Token& token_;
  Session& session_;
  std::deque<Object> objects_;
};

std::optional<CK_ULONG> Objects::object_class(Object& object) {
  if (!object.read)
    object.read.emplace(token_, session_, object.handle,
                        std::vector<CK_ATTRIBUTE_TYPE>(std::begin(kAttributes), std::end(kAttributes)));
  return object.read->values().ulong(CKA_CLASS);
}

const Attributes& Objects::complete(Object& object) {
  if (!object.complete) {
    std::optional<CK_ULONG> of_class = object_class(object);
    object.read->fetch([&](CK_ATTRIBUTE_TYPE type) { return fetched_for(of_class, type); });
    object.complete = true;
  }
  return object.read->values();
}

std::string Objects::where(const Attributes& attributes) const {
  return token_.where() + ", object '" + text(attributes.bytes_or_empty(CKA_LABEL)) + "'";
}

EvpPkeyPtr Objects::from_point(const Attributes& key, const Attributes& holder, KeyType type) {
  Bytes point = holder.bytes_or_empty(CKA_EC_POINT);
  OSSL_LIB_CTX* libctx = core_.software().libctx();
  if (type == KeyType::ed25519) return ed25519_public_key(libctx, point);
  auto params = key.bytes(CKA_EC_PARAMS);
  if (!params) params = holder.bytes(CKA_EC_PARAMS);
  if (!params) fail(HSMPROV_R_UNSUPPORTED, where(key) + ": the key has no CKA_EC_PARAMS");
  return ec_public_key(libctx, *params, point);
}

// The public half as a public key object holds it (CKA_EC_POINT, or an
// ML-DSA key's CKA_VALUE), or nullptr where `holder` has none.
EvpPkeyPtr Objects::from_public_value(const Attributes& key, const Attributes& holder, KeyType type) {
  if (!is_ml_dsa(type)) return holder.bytes_or_empty(CKA_EC_POINT).empty() ? nullptr : from_point(key, holder, type);
  Bytes raw = holder.bytes_or_empty(CKA_VALUE);
  if (raw.empty()) return nullptr;
  std::optional<KeyType> sized = ml_dsa_with_public_key_size(raw.size());
  if (!sized)
    fail(HSMPROV_R_UNSUPPORTED, where(key) + ": its ML-DSA public key has " + std::to_string(raw.size()) +
                                    " bytes, which no ML-DSA parameter set has");
  return ml_dsa_public_key(core_.software().libctx(), *sized, raw);
}

// PKCS#11 private EC, EdDSA and ML-DSA keys carry no public key: the public
// half is on the public key object or the certificate with the same CKA_ID.
EvpPkeyPtr Objects::from_peers(Object& key, KeyType type) {
  const Attributes& own = complete(key);
  Bytes id = own.bytes_or_empty(CKA_ID);
  if (id.empty()) return nullptr;
  for (CK_OBJECT_CLASS peer_class : {CKO_PUBLIC_KEY, CKO_CERTIFICATE}) {
    for (Object& peer : objects_) {
      if (object_class(peer) != peer_class) continue;
      const Attributes& theirs = complete(peer);
      if (theirs.bytes_or_empty(CKA_ID) != id) continue;
      if (peer_class == CKO_PUBLIC_KEY) {
        if (EvpPkeyPtr found = from_public_value(own, theirs, type)) return found;
      } else if (theirs.has(CKA_VALUE)) {
        return certificate_public_key(core_.software().libctx(), *theirs.bytes(CKA_VALUE));
      }
    }
  }
  return nullptr;
}

// The peers were not among the objects found (a URI that names the private
// key by a label its public object does not share): look for them by CKA_ID.
EvpPkeyPtr Objects::from_peer_search(Object& key, KeyType type) {
  Bytes id = complete(key).bytes_or_empty(CKA_ID);
  for (CK_OBJECT_CLASS peer_class : {CKO_PUBLIC_KEY, CKO_CERTIFICATE}) {
    Objects peers(core_, token_, session_);
    peers.search({ulong_attribute(CKA_CLASS, peer_class), {CKA_ID, id}});
    peers.objects_.push_front(key);  // the key's own attributes come along (its CKA_EC_PARAMS)
    if (EvpPkeyPtr found = peers.from_peers(peers.objects_.front(), type)) return found;
  }
  fail(HSMPROV_R_NOT_FOUND,
       where(complete(key)) + ": no public key object or certificate with the same CKA_ID gives its public key");
}

EvpPkeyPtr Objects::public_half(Object& key, KeyType type) {
  const Attributes& own = complete(key);
  OSSL_LIB_CTX* libctx = core_.software().libctx();
  if (type == KeyType::rsa) {
    auto n = own.bytes(CKA_MODULUS);
    auto e = own.bytes(CKA_PUBLIC_EXPONENT);
    if (!n || !e) fail(HSMPROV_R_UNSUPPORTED, where(own) + ": the token does not give the RSA modulus and exponent");
    return rsa_public_key(libctx, *n, *e);
  }
  if (EvpPkeyPtr found = from_public_value(own, own, type)) return found;
  Bytes info = own.bytes_or_empty(CKA_PUBLIC_KEY_INFO);  // PKCS#11 3.0 tokens may give it on private keys
  if (!info.empty()) return public_key_from_spki(libctx, info);
  if (object_class(key) == CKO_PUBLIC_KEY)
    fail(HSMPROV_R_UNSUPPORTED, where(own) + ": the public key object has no " +
                                    (is_ml_dsa(type) ? "CKA_VALUE" : "CKA_EC_POINT"));
  if (EvpPkeyPtr found = from_peers(key, type)) return found;
  return from_peer_search(key, type);
}

std::shared_ptr<Key> Objects::key(size_t index) {
  Object& object = objects_[index];
  const Attributes& attributes = complete(object);
  std::optional<KeyType> type = declared_type(attributes);
  if (!type) {
    log::write(1, where(attributes) + ": key type not supported, skipped");
    return nullptr;
  }
  require_openssl_for(*type, where(attributes));
  EvpPkeyPtr public_key = public_half(object, *type);
  if (*type == KeyType::ed25519 && !EVP_PKEY_is_a(public_key.get(), "ED25519")) return nullptr;
  if (is_ml_dsa(*type)) type = ml_dsa_type_of(public_key.get(), attributes, where(attributes));
  return Key::from_token(core_, token_, object.handle, *type, attributes, std::move(public_key));
}

std::vector<Found> Objects::usable(const std::vector<CK_OBJECT_CLASS>& wanted) {
  std::vector<Found> found;
  for (size_t i = 0; i < objects_.size(); ++i) {
    std::optional<CK_ULONG> of_class = object_class(objects_[i]);
    if (!of_class || std::find(wanted.begin(), wanted.end(), *of_class) == wanted.end()) continue;
    const Attributes& attributes = complete(objects_[i]);
    Found item{*of_class, nullptr, {}, text(attributes.bytes_or_empty(CKA_LABEL))};
    if (*of_class == CKO_CERTIFICATE) {
      if (attributes.ulong(CKA_CERTIFICATE_TYPE) != CKC_X_509) continue;
      item.certificate = attributes.bytes_or_empty(CKA_VALUE);
    } else if (*of_class == CKO_PRIVATE_KEY || *of_class == CKO_PUBLIC_KEY) {
      if (!(item.key = key(i))) continue;
    } else {
      continue;  // data objects and secret keys have no OpenSSL store type
    }
    found.push_back(std::move(item));
  }
  return found;
}

bool names_an_object(const std::vector<Attribute>& query) {
  for (const Attribute& attribute : query)
    if (attribute.type == CKA_LABEL || attribute.type == CKA_ID) return true;
  return false;
}

}  // namespace

std::vector<Found> find_usable(Core& core, Token& token, Session& session, const std::vector<Attribute>& query,
                               const std::vector<CK_OBJECT_CLASS>& wanted) {
  // A search for a named private key leaves the class out, so that it finds
  // the key's public object too, which holds an EC key's public half; the
  // classes wanted are picked from what it found. Otherwise it asks for the
  // one class wanted.
  bool with_peers = names_an_object(query) &&
                    std::find(wanted.begin(), wanted.end(), CKO_PRIVATE_KEY) != wanted.end();
  std::vector<Attribute> search;
  for (const Attribute& attribute : query)
    if (!with_peers || attribute.type != CKA_CLASS) search.push_back(attribute);
  bool by_class = std::any_of(search.begin(), search.end(), [](const Attribute& a) { return a.type == CKA_CLASS; });
  if (wanted.size() == 1 && !with_peers && !by_class) search.push_back(ulong_attribute(CKA_CLASS, wanted.front()));
  Objects objects(core, token, session);
  objects.search(search);
  return objects.usable(wanted);
}

std::shared_ptr<Key> new_pair_key(Core& core, Token& token, Session& session, CK_OBJECT_HANDLE private_key,
                                  CK_OBJECT_HANDLE public_key) {
  Objects objects(core, token, session);
  objects.add(private_key);
  objects.add(public_key);
  std::shared_ptr<Key> key = objects.key(0);
  if (!key) fail(HSMPROV_R_INTERNAL, token.where() + ": the new key pair cannot be read back");
  return key;
}

}  // namespace hsmprov
