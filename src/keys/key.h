// A key object on a token (private or public), or a public key that exists
// only in software. Private key material never leaves the token: the object
// is used by handle and only its public half is copied out. After a fork or
// a recovery of the token service its handle is void, and the object is
// found again by its identity: its class, CKA_ID and label, and its public
// key, which must be the one this key has (another key that took the label
// is never used).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "handles.h"
#include "keys/key_type.h"
#include "keys/session_copies.h"
#include "pkcs11/attributes.h"
#include "pkcs11/objects.h"
#include "uri.h"

namespace hsmprov {

class Core;

class Key {
 public:
  // The token object `object` with the attributes read of it and its
  // public half (token_objects.h reads both).
  static std::shared_ptr<Key> from_token(Core& core, Token& token, CK_OBJECT_HANDLE object, KeyType type,
                                         const Attributes& attributes, EvpPkeyPtr public_key);
  // A key that lives in software: a public key OpenSSL imports to compare
  // with a token key, or a whole key another part of the program made
  // (OpenSSL may hand a key of a type to the first key management of that
  // type it finds, hsmprov's too: SoftHSM rebuilds its ML-DSA keys so). It
  // is kept, exported and used as it came, never put into a token.
  static std::shared_ptr<Key> from_software(KeyType type, EvpPkeyPtr key, bool with_private);
  ~Key();
  Key(const Key&) = delete;
  Key& operator=(const Key&) = delete;

  KeyType type() const { return type_; }
  bool has_private() const { return object_class_ == CKO_PRIVATE_KEY; }
  bool in_software() const { return token_ == nullptr; }
  // The public half; for a key in software, the key itself.
  EVP_PKEY* public_key() const { return public_key_.get(); }
  // A pkcs11: URI that finds this object again (token, label, id, type).
  std::string uri() const;
  std::string where() const;
  // Says once per key, at debug level 1, that the program asked for the
  // private values of this token key and did not get them (Node.js's JWK
  // export and Python cryptography's private_numbers() do): the failure
  // the program then reports rarely names the cause.
  void note_refused_export();

  // The key's own object if it lives on `token`, else CK_INVALID_HANDLE.
  CK_OBJECT_HANDLE object_on(const Token& token);
  // An attribute of the token object itself (not of its session copy), such
  // as a vendor attribute; nullopt when the token does not give it.
  std::optional<Bytes> token_attribute(CK_ATTRIBUTE_TYPE type);

  Bytes sign(CK_MECHANISM& mechanism, const unsigned char* data, size_t size);
  Bytes decrypt(CK_MECHANISM& mechanism, const unsigned char* data, size_t size);
  // C_Decrypt whose result is returned, never thrown, logged or acted on:
  // in TLS RSA key exchange whether decryption failed is itself the secret
  // an attacker probes for (Bleichenbacher). Failures before it still throw,
  // and so does a token service that went away, which says nothing about
  // the ciphertext: that one runs once more after recovery first.
  CK_RV decrypt_quietly(CK_MECHANISM& mechanism, const unsigned char* data, size_t size, unsigned char* out,
                        CK_ULONG* out_size);

 private:
  Key(KeyType type, EvpPkeyPtr public_key) : type_(type), public_key_(std::move(public_key)) {}
  using InitFn = CK_RV (*)(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE);
  using RunFn = CK_RV (*)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);
  Bytes one_shot(InitFn init, RunFn run, const char* init_name, const char* run_name, CK_MECHANISM& mechanism,
                 const unsigned char* data, size_t size);
  // A session with the operation begun: C_*Init, and the context login of
  // a CKA_ALWAYS_AUTHENTICATE key.
  KeySession start(InitFn init, const char* init_name, CK_MECHANISM& mechanism);
  void stop_on_failure(Session& session, CK_RV rv, const char* function);
  void require_private() const;
  CK_OBJECT_HANDLE handle_for_use();
  CK_OBJECT_HANDLE current_object(unsigned generation);
  void find_again();

  KeyType type_;
  EvpPkeyPtr public_key_;
  Core* core_ = nullptr;
  Token* token_ = nullptr;
  CK_OBJECT_CLASS object_class_ = CKO_PUBLIC_KEY;
  std::vector<Attribute> identity_;  // CKA_CLASS, CKA_ID, CKA_LABEL
  std::string label_;
  bool always_authenticate_ = false;

  std::mutex mutex_;  // guards the handles below while they change
  unsigned generation_ = 0;
  CK_OBJECT_HANDLE handle_ = CK_INVALID_HANDLE;
  // The token object's handle, published once settled for this generation;
  // read without the lock on every operation.
  std::atomic<CK_OBJECT_HANDLE> ready_{CK_INVALID_HANDLE};
  std::atomic<unsigned> ready_generation_{0};
  std::atomic<bool> export_refusal_noted_{false};
  std::unique_ptr<SessionCopies> copies_;  // private keys on a token
};

}  // namespace hsmprov
