// Token key objects: loading their public half, signing and decrypting by
// handle (on session copies, see session_copies.h), finding them again
// after fork.
#include "keys/key.h"

#include "error.h"
#include "keys/core.h"
#include "keys/public_key.h"
#include "log.h"
#include "pkcs11/ckr_names.h"

namespace hsmprov {
namespace {

std::string hex(const Bytes& bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

EvpPkeyPtr ec_key_from_point(OSSL_LIB_CTX* libctx, Token& token, Session& session, CK_OBJECT_HANDLE params_object,
                             KeyType type, const Bytes& point, const std::string& where) {
  if (type == KeyType::ed25519) return ed25519_public_key(libctx, point);
  auto params = read_attribute(token, session, params_object, CKA_EC_PARAMS);
  if (!params) fail(HSMPROV_R_UNSUPPORTED, where + ": the key has no CKA_EC_PARAMS");
  return ec_public_key(libctx, *params, point);
}

// PKCS#11 private EC/EdDSA keys carry no CKA_EC_POINT: the public half sits
// on the public key object or the certificate with the same CKA_ID.
EvpPkeyPtr public_half_of_private_ec(OSSL_LIB_CTX* libctx, Token& token, Session& session, CK_OBJECT_HANDLE object,
                                     KeyType type, const Bytes& id, const std::string& where) {
  for (CK_OBJECT_CLASS peer_class : {CKO_PUBLIC_KEY, CKO_CERTIFICATE}) {
    std::vector<CK_ATTRIBUTE> query = {{CKA_CLASS, &peer_class, sizeof peer_class},
                                       {CKA_ID, const_cast<unsigned char*>(id.data()), id.size()}};
    for (CK_OBJECT_HANDLE peer : find_objects(token, session, query)) {
      if (peer_class == CKO_CERTIFICATE) {
        if (auto der = read_attribute(token, session, peer, CKA_VALUE)) return certificate_public_key(libctx, *der);
      } else if (auto point = read_attribute(token, session, peer, CKA_EC_POINT)) {
        return ec_key_from_point(libctx, token, session, object, type, *point, where);
      }
    }
  }
  fail(HSMPROV_R_NOT_FOUND, where + ": no public key object or certificate with the same CKA_ID gives its public key");
}

EvpPkeyPtr load_public_half(Core& core, Token& token, Session& session, CK_OBJECT_HANDLE object, KeyType type,
                            CK_OBJECT_CLASS object_class, const Bytes& id, const std::string& where) {
  OSSL_LIB_CTX* libctx = core.software().libctx();
  if (type == KeyType::rsa) {
    auto n = read_attribute(token, session, object, CKA_MODULUS);
    auto e = read_attribute(token, session, object, CKA_PUBLIC_EXPONENT);
    if (!n || !e) fail(HSMPROV_R_UNSUPPORTED, where + ": the token does not give the RSA modulus and exponent");
    return rsa_public_key(libctx, *n, *e);
  }
  if (object_class == CKO_PRIVATE_KEY) return public_half_of_private_ec(libctx, token, session, object, type, id, where);
  auto point = read_attribute(token, session, object, CKA_EC_POINT);
  if (!point) fail(HSMPROV_R_UNSUPPORTED, where + ": the public key object has no CKA_EC_POINT");
  return ec_key_from_point(libctx, token, session, object, type, *point, where);
}

std::optional<KeyType> key_type_of(CK_ULONG key_type) {
  switch (key_type) {
    case CKK_RSA: return KeyType::rsa;
    case CKK_EC: return KeyType::ec;
    case CKK_EC_EDWARDS: return KeyType::ed25519;
    default: return std::nullopt;
  }
}

// The session is gone (closed by the token), not the data or the key at fault.
bool session_gone(CK_RV rv) { return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED; }

}  // namespace

const char* key_type_name(KeyType type) {
  switch (type) {
    case KeyType::rsa: return "RSA";
    case KeyType::ec: return "EC";
    case KeyType::ed25519: return "ED25519";
  }
  return "?";
}

std::shared_ptr<Key> Key::from_token(Core& core, Token& token, Session& session, CK_OBJECT_HANDLE object) {
  auto object_class = read_ulong(token, session, object, CKA_CLASS);
  auto key_type = key_type_of(read_ulong(token, session, object, CKA_KEY_TYPE).value_or(CKK_VENDOR_DEFINED));
  if (!object_class || !key_type) return nullptr;
  Bytes id = read_attribute(token, session, object, CKA_ID).value_or(Bytes());
  Bytes label = read_attribute(token, session, object, CKA_LABEL).value_or(Bytes());
  std::string where = token.where() + ", object '" + std::string(label.begin(), label.end()) + "'";
  EvpPkeyPtr public_key = load_public_half(core, token, session, object, *key_type, *object_class, id, where);
  if (*key_type == KeyType::ed25519 && !EVP_PKEY_is_a(public_key.get(), "ED25519")) return nullptr;

  std::shared_ptr<Key> key(new Key(*key_type, std::move(public_key)));
  key->core_ = &core;
  key->token_ = &token;
  key->object_class_ = *object_class;
  key->label_.assign(label.begin(), label.end());
  key->identity_ = {ulong_attribute(CKA_CLASS, *object_class)};
  if (!id.empty()) key->identity_.push_back({CKA_ID, id});
  if (!label.empty()) key->identity_.push_back({CKA_LABEL, label});
  key->always_authenticate_ = read_bool(token, session, object, CKA_ALWAYS_AUTHENTICATE);
  key->generation_ = core.generation();
  key->handle_ = object;
  if (key->has_private()) key->copies_ = std::make_unique<SessionCopies>(token);
  return key;
}

std::shared_ptr<Key> Key::from_public(KeyType type, EvpPkeyPtr public_key) {
  return std::shared_ptr<Key>(new Key(type, std::move(public_key)));
}

Key::~Key() {
  // After a fork this key has not been used since, its handles are the
  // parent's: in the child they may name other objects. At exit the module
  // may be gone (see process_is_exiting()).
  bool stale = core_ != nullptr && (core_->fork_pending() || generation_ != core_->generation());
  if (copies_ && (stale || process_is_exiting())) copies_->keep_at_destruction();
}

std::string Key::uri() const {
  if (token_ == nullptr) return "";
  return object_uri(token_->info(), identity_);
}

std::string Key::where() const {
  if (token_ == nullptr) return "software public key";
  std::string name = !label_.empty() ? label_ : "id " + hex(identity_.size() > 1 ? identity_[1].value : Bytes());
  return token_->where() + ", object '" + name + "'";
}

void Key::find_again() {
  if (copies_) copies_->forget();
  Session session = token_->session();
  std::vector<Attribute> identity = identity_;
  auto found = find_objects(*token_, session, as_template(identity));
  if (found.empty()) fail(HSMPROV_R_NOT_FOUND, where() + ": the key is no longer on the token");
  handle_ = found.front();
}

// Call with mutex_ held: the token object's handle, found again after a fork.
CK_OBJECT_HANDLE Key::current_object(unsigned generation) {
  if (generation_ != generation) {
    find_again();
    generation_ = generation;
  }
  return handle_;
}

CK_OBJECT_HANDLE Key::handle_for_use() {
  core_->reinitialize_if_forked();
  unsigned generation = core_->generation();
  // The generation is published after the handle and read before it: a
  // handle read after a matching generation is that generation's.
  if (ready_generation_.load(std::memory_order_acquire) == generation) {
    CK_OBJECT_HANDLE ready = ready_.load(std::memory_order_acquire);
    if (ready != CK_INVALID_HANDLE) return ready;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  CK_OBJECT_HANDLE ready = current_object(generation);
  ready_.store(ready, std::memory_order_release);
  ready_generation_.store(generation, std::memory_order_release);
  return ready;
}

// A failed call leaves the operation's state on the session: don't reuse
// it. The context string is built only when it is printed: on failure, or
// for the level-2 debug log (this is the signing hot path).
void Key::stop_on_failure(Session& session, CK_RV rv, const char* function) {
  if (rv == CKR_OK && log::level() < 2) return;
  if (rv != CKR_OK) session.mark_broken();
  checked(*token_, session, rv, function, where());
}

// A session the token closed under us (an idle timeout, a network HSM's
// reconnect) says nothing about the key or the data: the operation runs
// once more, on another session, instead of failing a handshake.
bool Key::retry_on_another_session(Session& session, CK_RV rv, const char* function, int attempt) {
  if (attempt > 1 || !session_gone(rv)) return false;
  log::write(1, where() + ": " + function + ": " + ckr_name(rv) + ": the session is gone; once more on another");
  session.mark_broken();
  token_->note_failure(session, rv);
  return true;
}

KeySession Key::start(InitFn init, const char* init_name, CK_MECHANISM& mechanism) {
  for (int attempt = 1;; ++attempt) {
    CK_OBJECT_HANDLE object = handle_for_use();
    KeySession use = copies_->take(object, core_->config().cache_keys, where());
    Session& session = use.session();
    CK_RV rv = call(init, session.handle(), &mechanism, use.object());
    if (retry_on_another_session(session, rv, init_name, attempt)) continue;
    stop_on_failure(session, rv, init_name);
    if (always_authenticate_) {
      try {
        token_->context_login(session.handle());
      } catch (...) {
        session.mark_broken();  // the operation is still active on it
        throw;
      }
    }
    return use;
  }
}

Bytes Key::one_shot(InitFn init, RunFn run, const char* init_name, const char* run_name, CK_MECHANISM& mechanism,
                    const unsigned char* data, size_t size) {
  for (int attempt = 1;; ++attempt) {
    KeySession use = start(init, init_name, mechanism);
    Session& session = use.session();
    Bytes out(static_cast<size_t>(EVP_PKEY_get_size(public_key_.get())));
    CK_ULONG out_size = out.size();
    CK_RV rv = call(run, session.handle(), const_cast<unsigned char*>(data), size, out.data(), &out_size);
    if (retry_on_another_session(session, rv, run_name, attempt)) continue;
    stop_on_failure(session, rv, run_name);
    out.resize(out_size);
    return out;
  }
}

CK_OBJECT_HANDLE Key::object_on(const Token& token) {
  if (token_ != &token) return CK_INVALID_HANDLE;
  core_->reinitialize_if_forked();
  std::lock_guard<std::mutex> lock(mutex_);
  return current_object(core_->generation());
}

std::optional<Bytes> Key::token_attribute(CK_ATTRIBUTE_TYPE type) {
  if (token_ == nullptr) return std::nullopt;
  core_->reinitialize_if_forked();
  Session session = token_->session();
  std::lock_guard<std::mutex> lock(mutex_);
  return read_attribute(*token_, session, current_object(core_->generation()), type);
}

void Key::require_private() const {
  if (token_ == nullptr || !has_private()) fail(HSMPROV_R_UNSUPPORTED, where() + ": not a private key");
}

Bytes Key::sign(CK_MECHANISM& mechanism, const unsigned char* data, size_t size) {
  require_private();
  return one_shot(token_->fn()->C_SignInit, token_->fn()->C_Sign, "C_SignInit", "C_Sign", mechanism, data, size);
}

Bytes Key::decrypt(CK_MECHANISM& mechanism, const unsigned char* data, size_t size) {
  require_private();
  return one_shot(token_->fn()->C_DecryptInit, token_->fn()->C_Decrypt, "C_DecryptInit", "C_Decrypt", mechanism,
                  data, size);
}

CK_RV Key::decrypt_quietly(CK_MECHANISM& mechanism, const unsigned char* data, size_t size, unsigned char* out,
                           CK_ULONG* out_size) {
  require_private();
  const CK_ULONG room = *out_size;
  for (int attempt = 1;; ++attempt) {
    KeySession use = start(token_->fn()->C_DecryptInit, "C_DecryptInit", mechanism);
    *out_size = room;
    // A failed C_Decrypt ends the operation (PKCS#11 5.2): the session stays usable.
    CK_RV rv = call(token_->fn()->C_Decrypt, use.session().handle(), const_cast<unsigned char*>(data), size, out,
                    out_size);
    if (retry_on_another_session(use.session(), rv, "C_Decrypt", attempt)) continue;
    if (session_gone(rv)) stop_on_failure(use.session(), rv, "C_Decrypt");
    return rv;
  }
}

}  // namespace hsmprov
