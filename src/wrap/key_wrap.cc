// C_WrapKey for KMS import: target lookup, refusals, the wrapping key as a
// session object, and the RSA-AES composition.
#include "wrap/key_wrap.h"

#include <algorithm>

#include <openssl/core_names.h>

#include "error.h"
#include "pkcs11/ckr_names.h"

namespace hsmprov {
namespace {

struct Target {
  Token* token;
  CK_OBJECT_HANDLE handle;
  CK_OBJECT_CLASS object_class;
  std::string where;
  CK_ULONG value_length;  // secret keys; 0 when unknown
  bool extractable;
  bool wrap_with_trusted;
};

// An object made for this wrap only, destroyed on every path.
class SessionObject {
 public:
  SessionObject(Token& token, Session& session) : token_(token), session_(session) {}
  ~SessionObject() {
    // If the token will not destroy it, the session goes: a session object
    // lives no longer than the session that made it.
    if (handle != CK_INVALID_HANDLE && call(token_.fn()->C_DestroyObject, session_.handle(), handle) != CKR_OK)
      session_.mark_broken();
  }
  SessionObject(const SessionObject&) = delete;
  SessionObject& operator=(const SessionObject&) = delete;
  CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;

 private:
  Token& token_;
  Session& session_;
};

Target find_target(Core& core, const std::string& text, const PinPrompt& prompt) {
  Uri uri = Uri::parse(text);
  std::vector<Token*> tokens = core.tokens(uri);
  if (tokens.empty()) core.no_token("the key to wrap: no token matches the pkcs11: URI");
  if (tokens.size() != 1)
    fail(HSMPROV_R_NOT_FOUND, "the key to wrap: the pkcs11: URI matches " + std::to_string(tokens.size()) +
                                  " tokens; it must name one");
  Token& token = *tokens.front();
  core.log_in(token, uri, prompt);
  Session session = token.session();
  std::vector<Target> found;
  for (CK_OBJECT_CLASS object_class : {CKO_SECRET_KEY, CKO_PRIVATE_KEY}) {
    if (uri.object_class() && *uri.object_class() != object_class) continue;
    std::vector<Attribute> query = uri.object_attributes();
    query.push_back(ulong_attribute(CKA_CLASS, object_class));
    for (CK_OBJECT_HANDLE h : find_objects(token, session, as_template(query))) {
      Attributes attributes =
          read_attributes(token, session, h, {CKA_LABEL, CKA_VALUE_LEN, CKA_EXTRACTABLE, CKA_WRAP_WITH_TRUSTED});
      Bytes label = attributes.bytes_or_empty(CKA_LABEL);
      found.push_back({&token, h, object_class, token.where() + ", object '" + std::string(label.begin(), label.end()) +
                       "'", attributes.ulong(CKA_VALUE_LEN).value_or(0), attributes.flag(CKA_EXTRACTABLE),
                       attributes.flag(CKA_WRAP_WITH_TRUSTED)});
    }
  }
  if (found.size() != 1)
    fail(found.empty() ? HSMPROV_R_NOT_FOUND : HSMPROV_R_AMBIGUOUS,
         "the key to wrap: the pkcs11: URI matches " + std::to_string(found.size()) + " secret or private keys on " +
             token.where() + "; it must name one");
  return found.front();
}

void refuse_unwrappable(const Target& target, Session& session, Key& wrapping) {
  Token& token = *target.token;
  if (!target.extractable)
    fail(HSMPROV_R_UNSUPPORTED,
         target.where + " cannot be wrapped: it was created with CKA_EXTRACTABLE false (C_WrapKey would answer "
                        "CKR_KEY_UNEXTRACTABLE). CKA_EXTRACTABLE must be set when the key is created and can never "
                        "be turned on later; a Luna creates keys non-extractable unless told otherwise");
  if (!target.wrap_with_trusted) return;
  CK_OBJECT_HANDLE own = wrapping.object_on(token);
  if (own == CK_INVALID_HANDLE || !read_attributes(token, session, own, {CKA_TRUSTED}).flag(CKA_TRUSTED))
    fail(HSMPROV_R_UNSUPPORTED,
         target.where + " has CKA_WRAP_WITH_TRUSTED: only a wrapping key on the token marked CKA_TRUSTED (by the "
                        "security officer) may wrap it; a key from a file cannot be one");
}

CK_OBJECT_HANDLE wrapping_handle(Token& token, Session& session, Key& wrapping, SessionObject& copy) {
  CK_OBJECT_HANDLE own = wrapping.object_on(token);
  if (own != CK_INVALID_HANDLE) return own;
  BIGNUM *n = nullptr, *e = nullptr;
  EVP_PKEY_get_bn_param(wrapping.public_key(), OSSL_PKEY_PARAM_RSA_N, &n);
  EVP_PKEY_get_bn_param(wrapping.public_key(), OSSL_PKEY_PARAM_RSA_E, &e);
  BignumPtr n_owner(n), e_owner(e);
  if (!n || !e) fail(HSMPROV_R_INVALID_ARGUMENT, "the wrapping key is not an RSA public key");
  Bytes modulus(static_cast<size_t>(BN_num_bytes(n))), exponent(static_cast<size_t>(BN_num_bytes(e)));
  BN_bn2bin(n, modulus.data());
  BN_bn2bin(e, exponent.data());
  CK_OBJECT_CLASS object_class = CKO_PUBLIC_KEY;
  CK_KEY_TYPE key_type = CKK_RSA;
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  CK_ATTRIBUTE object[] = {{CKA_CLASS, &object_class, sizeof object_class}, {CKA_KEY_TYPE, &key_type, sizeof key_type},
                           {CKA_TOKEN, &no, 1}, {CKA_WRAP, &yes, 1}, {CKA_ENCRYPT, &yes, 1},
                           {CKA_MODULUS, modulus.data(), modulus.size()},
                           {CKA_PUBLIC_EXPONENT, exponent.data(), exponent.size()}};
  checked(token, session, call(token.fn()->C_CreateObject, session.handle(), object, 7, &copy.handle), "C_CreateObject",
          token.where() + ", the wrapping key as a session object");
  return copy.handle;
}

std::string mechanism_name(CK_MECHANISM_TYPE mechanism) {
  switch (mechanism) {
    case CKM_RSA_PKCS_OAEP: return "CKM_RSA_PKCS_OAEP";
    case CKM_RSA_PKCS: return "CKM_RSA_PKCS";
    case CKM_RSA_AES_KEY_WRAP: return "CKM_RSA_AES_KEY_WRAP";
    case CKM_AES_KEY_WRAP_KWP: return "CKM_AES_KEY_WRAP_KWP";
    case CKM_LUNA_AES_KWP: return "CKM_AES_KWP (Luna)";
    case CKM_AES_KEY_WRAP_PAD: return "CKM_AES_KEY_WRAP_PAD";
    case CKM_AES_KEY_GEN: return "CKM_AES_KEY_GEN";
    default: return "mechanism " + std::to_string(mechanism);
  }
}

// Which algorithms this token can do, from its mechanism list.
std::string algorithms_of(const Token& token) {
  std::string list;
  if (token.has_mechanism(CKM_RSA_PKCS_OAEP)) list += "RSAES_OAEP_SHA_1 (and _SHA_256 if its OAEP takes SHA-256)";
  bool kwp = token.has_mechanism(CKM_AES_KEY_WRAP_KWP) || token.has_mechanism(CKM_LUNA_AES_KWP);
  // The RSA-AES forms wrap their ephemeral key with the same OAEP: the same
  // hash caveat holds.
  if (token.has_mechanism(CKM_RSA_AES_KEY_WRAP) ||
      (token.has_mechanism(CKM_RSA_PKCS_OAEP) && token.has_mechanism(CKM_AES_KEY_GEN) && kwp))
    list += ", RSA_AES_KEY_WRAP_SHA_1 (and _SHA_256 likewise)";
  else if (token.has_mechanism(CKM_AES_KEY_WRAP_PAD) && token.has_mechanism(CKM_RSA_PKCS_OAEP))
    list += ", RSA_AES_KEY_WRAP_SHA_1 (and _SHA_256 likewise) for secret keys whose length is a multiple of 8 bytes";
  return list.empty() ? "none" : list;
}

void require(const Token& token, CK_MECHANISM_TYPE mechanism, const std::string& algorithm) {
  if (!token.has_mechanism(mechanism))
    fail(HSMPROV_R_UNSUPPORTED, token.where() + " has no " + mechanism_name(mechanism) + ", which " + algorithm +
                                    " needs; this token can do: " + algorithms_of(token));
}

Bytes wrap_once(Token& token, Session& session, CK_MECHANISM& mechanism, CK_OBJECT_HANDLE wrapping,
                CK_OBJECT_HANDLE target, const std::string& where) {
  CK_ULONG size = 0;
  CK_RV rv = call(token.fn()->C_WrapKey, session.handle(), &mechanism, wrapping, target, nullptr, &size);
  Bytes out;
  // Some tokens (NSS softokn with KWP) answer the size query short: grow.
  for (int attempt = 0; rv == CKR_OK || (rv == CKR_BUFFER_TOO_SMALL && attempt < 4); ++attempt) {
    out.resize(std::max<size_t>(size, out.size() * 2 + 16));
    size = out.size();
    rv = call(token.fn()->C_WrapKey, session.handle(), &mechanism, wrapping, target, out.data(), &size);
    if (rv == CKR_OK) break;
  }
  if (rv == CKR_ARGUMENTS_BAD || rv == CKR_MECHANISM_PARAM_INVALID) {
    fail(HSMPROV_R_PKCS11, where + ": C_WrapKey: " + ckr_name(rv) + ": the token refuses " +
                               mechanism_name(mechanism.mechanism) +
                               " with these parameters (SoftHSM 2.6 does RSA-OAEP with SHA-1 only); this token "
                               "can do: " + algorithms_of(token));
  }
  checked(token, session, rv, "C_WrapKey", where);
  out.resize(size);
  return out;
}

// RFC 5649 key wrap with padding, by whatever name the token has it.
// SoftHSM's CKM_AES_KEY_WRAP_PAD is RFC 5649 only for inputs that are a
// multiple of 8 bytes; NSS's is not RFC 5649 at all.
CK_MECHANISM_TYPE kwp_mechanism(const Token& token, const Target& target) {
  if (token.has_mechanism(CKM_AES_KEY_WRAP_KWP)) return CKM_AES_KEY_WRAP_KWP;
  if (token.has_mechanism(CKM_LUNA_AES_KWP)) return CKM_LUNA_AES_KWP;
  bool softhsm = trimmed(token.info().manufacturerID, sizeof token.info().manufacturerID) == "SoftHSM project";
  if (softhsm && token.has_mechanism(CKM_AES_KEY_WRAP_PAD) && target.object_class == CKO_SECRET_KEY &&
      target.value_length > 0 && target.value_length % 8 == 0)
    return CKM_AES_KEY_WRAP_PAD;
  fail(HSMPROV_R_UNSUPPORTED, token.where() + " has no RFC 5649 key wrap (CKM_AES_KEY_WRAP_KWP, or Luna's "
                                              "CKM_AES_KWP) for " + target.where + "; this token can do: " +
                                              algorithms_of(token));
}

Bytes wrap_rsa_aes(Token& token, Session& session, const WrapAlgorithm& algorithm, CK_RSA_PKCS_OAEP_PARAMS& oaep,
                   CK_OBJECT_HANDLE wrapping, const Target& target) {
  if (token.has_mechanism(CKM_RSA_AES_KEY_WRAP)) {
    CK_RSA_AES_KEY_WRAP_PARAMS params{256, &oaep};
    CK_MECHANISM mechanism{CKM_RSA_AES_KEY_WRAP, &params, sizeof params};
    return wrap_once(token, session, mechanism, wrapping, target.handle, target.where);
  }
  require(token, CKM_RSA_PKCS_OAEP, algorithm.name);
  require(token, CKM_AES_KEY_GEN, algorithm.name);
  CK_MECHANISM kwp{kwp_mechanism(token, target), nullptr, 0};
  SessionObject ephemeral(token, session);
  CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
  CK_KEY_TYPE aes = CKK_AES;
  CK_ULONG length = 32;
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  CK_ATTRIBUTE key[] = {{CKA_CLASS, &secret, sizeof secret}, {CKA_KEY_TYPE, &aes, sizeof aes},
                        {CKA_VALUE_LEN, &length, sizeof length}, {CKA_TOKEN, &no, 1}, {CKA_SENSITIVE, &yes, 1},
                        {CKA_EXTRACTABLE, &yes, 1}, {CKA_WRAP, &yes, 1}, {CKA_ENCRYPT, &no, 1}, {CKA_DECRYPT, &no, 1}};
  CK_MECHANISM generate{CKM_AES_KEY_GEN, nullptr, 0};
  checked(token, session, call(token.fn()->C_GenerateKey, session.handle(), &generate, key, 9, &ephemeral.handle),
          "C_GenerateKey", token.where() + ", the ephemeral AES-256 key");
  Bytes wrapped_target = wrap_once(token, session, kwp, ephemeral.handle, target.handle, target.where);
  CK_MECHANISM oaep_mechanism{CKM_RSA_PKCS_OAEP, &oaep, sizeof oaep};
  Bytes out = wrap_once(token, session, oaep_mechanism, wrapping, ephemeral.handle, token.where() + ", ephemeral key");
  out.insert(out.end(), wrapped_target.begin(), wrapped_target.end());
  return out;
}

Bytes wrap_found(Key& wrapping, const WrapRequest& request, const Target& target) {
  const WrapAlgorithm& algorithm = request.algorithm;
  Token& token = *target.token;
  Session session = token.session();
  refuse_unwrappable(target, session, wrapping);
  if (target.object_class == CKO_PRIVATE_KEY && !algorithm.rsa_aes)
    fail(HSMPROV_R_UNSUPPORTED, target.where + " is a private key: it is wrapped as PKCS#8, which needs an RSA-AES "
                                               "algorithm (RSA_AES_KEY_WRAP_SHA_1/_256, RSA_OAEP_*_AES_256)");
  SessionObject copy(token, session);
  CK_OBJECT_HANDLE kms = wrapping_handle(token, session, wrapping, copy);
  CK_RSA_PKCS_OAEP_PARAMS oaep{algorithm.hash, algorithm.mgf, CKZ_DATA_SPECIFIED, nullptr, 0};
  if (algorithm.rsa_aes) return wrap_rsa_aes(token, session, algorithm, oaep, kms, target);
  CK_MECHANISM mechanism{algorithm.oaep ? CKM_RSA_PKCS_OAEP : CKM_RSA_PKCS, algorithm.oaep ? &oaep : nullptr,
                         algorithm.oaep ? sizeof oaep : 0};
  require(token, mechanism.mechanism, algorithm.name);
  return wrap_once(token, session, mechanism, kms, target.handle, target.where);
}

}  // namespace

Bytes wrap_key(Core& core, Key& wrapping, const WrapRequest& request, const PinPrompt& prompt) {
  const WrapAlgorithm& algorithm = request.algorithm;
  EVP_PKEY* kms_key = wrapping.public_key();
  if (!EVP_PKEY_is_a(kms_key, "RSA")) fail(HSMPROV_R_UNSUPPORTED, "the wrapping key must be an RSA public key");
  int bits = EVP_PKEY_get_bits(kms_key);
  if (bits < 2048)
    fail(HSMPROV_R_UNSUPPORTED, "wrapping keys under 2048 bits are refused; this one has " + std::to_string(bits));
  if (algorithm.required_bits && bits != algorithm.required_bits)
    fail(HSMPROV_R_INVALID_ARGUMENT, algorithm.name + " needs an RSA-" + std::to_string(algorithm.required_bits) +
                                         " wrapping key; this one has " + std::to_string(bits) + " bits");
  if (!algorithm.oaep && !request.legacy_allowed)
    fail(HSMPROV_R_UNSUPPORTED, "RSAES_PKCS1_V1_5 was retired by AWS KMS in October 2023; to use it anyway, add "
                                "-pkeyopt hsmprov-wrap-legacy:yes");
  // Wrapping changes nothing on the token (its session objects go with
  // their session): after the token service went away it runs once more.
  return core.with_recovery(nullptr, Retry::once,
                            [&] { return wrap_found(wrapping, request, find_target(core, request.target_uri, prompt)); });
}

}  // namespace hsmprov
