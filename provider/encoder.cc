/* Encoders for token private keys. A private key cannot be written out, so
 * PEM PrivateKeyInfo (what genpkey and pkey write) gives a reference to the
 * token key, text output describes it with its public half, and DER or
 * type-specific output asks for key material and is refused clearly. */
#include <openssl/bio.h>
#include <openssl/core_names.h>

#include "key_data.h"
#include "keys/key_reference.h"

namespace hsmprov {
namespace {

int write_all(ProviderCtx* provider, OSSL_CORE_BIO* out, const std::string& text) {
  size_t written = 0;
  return provider->bio_write_ex(out, text.data(), text.size(), &written) && written == text.size();
}

void* newctx(void* provctx) { return provctx; }
void freectx(void*) {}

int does_private(void*, int selection) { return (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0; }

const KeyData* token_key(ProviderCtx* provider, const void* obj_raw) {
  auto* data = static_cast<const KeyData*>(obj_raw);
  if (data == nullptr || data->key == nullptr || data->key->in_software() || !data->key->has_private()) {
    raise_error(provider, HSMPROV_R_UNSUPPORTED, "hsmprov encodes token private keys only");
    return nullptr;
  }
  return data;
}

int encode_reference(void* ctx, OSSL_CORE_BIO* out, const void* obj_raw, const OSSL_PARAM[], int,
                     OSSL_PASSPHRASE_CALLBACK*, void*) {
  auto* provider = static_cast<ProviderCtx*>(ctx);
  const KeyData* data = token_key(provider, obj_raw);
  if (data == nullptr) return 0;
  return guarded(provider, 0, [&] { return write_all(provider, out, encode_key_reference(data->key->uri())); });
}

int refuse_material(void* ctx, OSSL_CORE_BIO*, const void* obj_raw, const OSSL_PARAM[], int,
                    OSSL_PASSPHRASE_CALLBACK*, void*) {
  auto* provider = static_cast<ProviderCtx*>(ctx);
  const KeyData* data = token_key(provider, obj_raw);
  if (data == nullptr) return 0;
  raise_error(provider, HSMPROV_R_KEY_IN_TOKEN,
              "%s: the private key cannot leave the token (use -pubout for the public key, or PEM output for a "
              "reference to the token key)", data->key->where().c_str());
  return 0;
}

int encode_text(void* ctx, OSSL_CORE_BIO* out, const void* obj_raw, const OSSL_PARAM[], int,
                OSSL_PASSPHRASE_CALLBACK*, void*) {
  auto* provider = static_cast<ProviderCtx*>(ctx);
  const KeyData* data = token_key(provider, obj_raw);
  if (data == nullptr) return 0;
  return guarded(provider, 0, [&] {
    BioPtr text(BIO_new(BIO_s_mem()));
    if (!text || EVP_PKEY_print_public(text.get(), data->key->public_key(), 0, nullptr) <= 0)
      fail(HSMPROV_R_INTERNAL, "cannot print the public key");
    char* printed = nullptr;
    long size = BIO_get_mem_data(text.get(), &printed);  // before `printed` is read
    std::string public_text(printed, static_cast<size_t>(size));
    if (!public_text.empty() && public_text.back() != '\n') public_text += '\n';
    return write_all(provider, out,
                     "Private key: in " + data->key->where() + " (never leaves the token)\nReference: " +
                         data->key->uri() + "\n" + public_text);
  });
}

template <OSSL_FUNC_encoder_encode_fn* Encode>
const OSSL_DISPATCH encoder_functions[] = {
    HSMPROV_FN(OSSL_FUNC_ENCODER_NEWCTX, OSSL_FUNC_encoder_newctx_fn, newctx),
    HSMPROV_FN(OSSL_FUNC_ENCODER_FREECTX, OSSL_FUNC_encoder_freectx_fn, freectx),
    HSMPROV_FN(OSSL_FUNC_ENCODER_DOES_SELECTION, OSSL_FUNC_encoder_does_selection_fn, does_private),
    HSMPROV_FN(OSSL_FUNC_ENCODER_ENCODE, OSSL_FUNC_encoder_encode_fn, Encode),
    {0, nullptr}};

#define HSMPROV_ENCODERS(NAMES, DESCRIPTION)                                                              \
  {NAMES, "provider=hsmprov,output=pem,structure=PrivateKeyInfo", encoder_functions<encode_reference>,    \
   DESCRIPTION " reference"},                                                                             \
      {NAMES, "provider=hsmprov,output=der,structure=PrivateKeyInfo", encoder_functions<refuse_material>, \
       DESCRIPTION " (refused)"},                                                                         \
      {NAMES, "provider=hsmprov,output=der,structure=type-specific", encoder_functions<refuse_material>,  \
       DESCRIPTION " (refused)"},                                                                         \
      {NAMES, "provider=hsmprov,output=pem,structure=type-specific", encoder_functions<refuse_material>,  \
       DESCRIPTION " (refused)"},                                                                         \
      {NAMES, "provider=hsmprov,output=text", encoder_functions<encode_text>, DESCRIPTION " description"}

}  // namespace

const OSSL_ALGORITHM encoder_algorithms[] = {
    HSMPROV_ENCODERS("RSA:rsaEncryption:1.2.840.113549.1.1.1", "token RSA key"),
    HSMPROV_ENCODERS("EC:id-ecPublicKey:1.2.840.10045.2.1", "token EC key"),
    HSMPROV_ENCODERS("ED25519:1.3.101.112", "token Ed25519 key"),
#if HSMPROV_WITH_ML_DSA
    HSMPROV_ENCODERS(HSMPROV_ML_DSA_44_NAMES, "token ML-DSA-44 key"),
    HSMPROV_ENCODERS(HSMPROV_ML_DSA_65_NAMES, "token ML-DSA-65 key"),
    HSMPROV_ENCODERS(HSMPROV_ML_DSA_87_NAMES, "token ML-DSA-87 key"),
#endif
    {nullptr, nullptr, nullptr, nullptr}};

}  // namespace hsmprov
