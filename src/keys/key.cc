// Token key objects: loading their public half, signing and decrypting by
// handle (on session copies, see session_copies.h), finding them again
// after fork.
#include "keys/key.h"

#include <errno.h>  // program_invocation_short_name (glibc)

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

}  // namespace

std::shared_ptr<Key> Key::from_token(Core& core, Token& token, CK_OBJECT_HANDLE object, KeyType type,
                                     const Attributes& attributes, EvpPkeyPtr public_key) {
  CK_OBJECT_CLASS object_class = attributes.ulong(CKA_CLASS).value_or(CKO_PUBLIC_KEY);
  std::shared_ptr<Key> key(new Key(type, std::move(public_key)));
  Bytes id = attributes.bytes_or_empty(CKA_ID);
  Bytes label = attributes.bytes_or_empty(CKA_LABEL);
  key->core_ = &core;
  key->token_ = &token;
  key->object_class_ = object_class;
  key->label_.assign(label.begin(), label.end());
  key->identity_ = {ulong_attribute(CKA_CLASS, object_class)};
  if (!id.empty()) key->identity_.push_back({CKA_ID, id});
  if (!label.empty()) key->identity_.push_back({CKA_LABEL, label});
  key->always_authenticate_ = attributes.flag(CKA_ALWAYS_AUTHENTICATE);
  key->generation_ = core.generation();
  key->handle_ = object;
  if (key->has_private()) key->copies_ = std::make_unique<SessionCopies>(token);
  return key;
}

std::shared_ptr<Key> Key::from_software(KeyType type, EvpPkeyPtr key, bool with_private) {
  std::shared_ptr<Key> made(new Key(type, std::move(key)));
  made->object_class_ = with_private ? CKO_PRIVATE_KEY : CKO_PUBLIC_KEY;
  return made;
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
  if (token_ == nullptr) return has_private() ? "software key" : "software public key";
  std::string name = !label_.empty() ? label_ : "id " + hex(identity_.size() > 1 ? identity_[1].value : Bytes());
  return token_->where() + ", object '" + name + "'";
}

void Key::note_refused_export() {
  if (log::level() < 1 || export_refusal_noted_.exchange(true)) return;
  log::write(1, std::string("program '") + program_invocation_short_name + "' asked for the private values of " +
                    where() + "; refused: they never leave the token. A program that then fails needs them (a "
                    "private key export, RSA or EC key internals) and must use the key through OpenSSL's "
                    "operations instead (OpenSSL also asks once before it hands an operation to hsmprov; nothing "
                    "fails then)");
}

// The search leaves the class out, so that an EC key's public object comes
// along; the candidates are then told apart by their public key.
void Key::find_again() {
  if (copies_) copies_->forget();
  Session session = token_->session();
  std::vector<Attribute> query;
  for (const Attribute& attribute : identity_)
    if (attribute.type != CKA_CLASS) query.push_back(attribute);
  std::vector<Found> found = find_usable(*core_, *token_, session, query, {object_class_});
  for (const Found& candidate : found) {
    if (EVP_PKEY_eq(candidate.key->public_key(), public_key_.get()) == 1) {
      handle_ = candidate.key->handle_;
      return;
    }
  }
  if (!found.empty())
    fail(HSMPROV_R_NOT_FOUND, where() + ": the token's object with this key's label and id holds another key now; "
                                        "it is not used");
  fail(HSMPROV_R_NOT_FOUND, where() + ": the key is no longer on the token");
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

KeySession Key::start(InitFn init, const char* init_name, CK_MECHANISM& mechanism) {
  CK_OBJECT_HANDLE object = handle_for_use();
  KeySession use = copies_->take(object, core_->config().cache_keys, where());
  Session& session = use.session();
  stop_on_failure(session, call(init, session.handle(), &mechanism, use.object()), init_name);
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

// A token service that went away (restart, failover, a dropped connection)
// says nothing about the key or the data: the operation runs once more
// after recovery, instead of failing a handshake.
Bytes Key::one_shot(InitFn init, RunFn run, const char* init_name, const char* run_name, CK_MECHANISM& mechanism,
                    const unsigned char* data, size_t size) {
  return core_->with_recovery(token_, Retry::once, [&] {
    KeySession use = start(init, init_name, mechanism);
    Session& session = use.session();
    Bytes out(static_cast<size_t>(EVP_PKEY_get_size(public_key_.get())));
    CK_ULONG out_size = out.size();
    CK_RV rv = call(run, session.handle(), const_cast<unsigned char*>(data), size, out.data(), &out_size);
    stop_on_failure(session, rv, run_name);
    out.resize(out_size);
    return out;
  });
}

CK_OBJECT_HANDLE Key::object_on(const Token& token) {
  if (token_ != &token) return CK_INVALID_HANDLE;
  core_->reinitialize_if_forked();
  std::lock_guard<std::mutex> lock(mutex_);
  return current_object(core_->generation());
}

std::optional<Bytes> Key::token_attribute(CK_ATTRIBUTE_TYPE type) {
  if (token_ == nullptr) return std::nullopt;
  return core_->with_recovery(token_, Retry::once, [&] {
    CK_OBJECT_HANDLE object = handle_for_use();
    Session session = token_->session();
    return read_attributes(*token_, session, object, {type}).bytes(type);
  });
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
  return core_->with_recovery(token_, Retry::once, [&] {
    KeySession use = start(token_->fn()->C_DecryptInit, "C_DecryptInit", mechanism);
    *out_size = room;
    // A failed C_Decrypt ends the operation (PKCS#11 5.2): the session stays usable.
    CK_RV rv = call(token_->fn()->C_Decrypt, use.session().handle(), const_cast<unsigned char*>(data), size, out,
                    out_size);
    if (service_lost(rv)) stop_on_failure(use.session(), rv, "C_Decrypt");
    return rv;
  });
}

}  // namespace hsmprov
