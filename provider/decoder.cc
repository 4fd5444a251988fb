/* Decoders for key references: the next PEM block, if it is one (ours,
 * "HSMPROV KEY REFERENCE", or pkcs11-provider's "PKCS#11 PROVIDER URI"), to
 * its DER (structure hsmprov-key-reference), and that DER to the token key
 * it names, handed to our keymgmt. Any other input is left alone ("empty
 * handed"), as decoders must; OpenSSL then gives the same bytes to the next
 * decoder, so certificates may stand before or after the reference. */
#include <openssl/core_names.h>
#include <openssl/core_object.h>

#include "key_data.h"
#include "keys/key_reference.h"

namespace hsmprov {
namespace {

constexpr size_t kMaxReferenceFile = 64 * 1024;
constexpr const char* kStructure = "hsmprov-key-reference";

struct DecoderCtx {
  ProviderCtx* provider;
  KeyType type;
};

Bytes read_all(ProviderCtx* provider, OSSL_CORE_BIO* in) {
  Bytes text;
  char buffer[4096];
  size_t got = 0;
  while (text.size() < kMaxReferenceFile && provider->bio_read_ex(in, buffer, sizeof buffer, &got) && got > 0)
    text.insert(text.end(), buffer, buffer + got);
  return text;
}

template <KeyType T>
void* newctx(void* provctx) {
  return new (std::nothrow) DecoderCtx{static_cast<ProviderCtx*>(provctx), T};
}

void freectx(void* vctx) { delete static_cast<DecoderCtx*>(vctx); }

int does_selection(void*, int selection) {
  return selection == 0 || (selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0;
}

int decode_pem(void* vctx, OSSL_CORE_BIO* in, int, OSSL_CALLBACK* data_cb, void* data_cbarg,
               OSSL_PASSPHRASE_CALLBACK*, void*) {
  auto* ctx = static_cast<DecoderCtx*>(vctx);
  return guarded(ctx->provider, 0, [&] {
    auto der = read_key_reference_block(ctx->provider->bio_for(in).get());
    if (!der) return 1;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA, der->data(), der->size()),
        OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_STRUCTURE, const_cast<char*>(kStructure), 0),
        OSSL_PARAM_construct_end()};
    return data_cb(params, data_cbarg);
  });
}

int decode(void* vctx, OSSL_CORE_BIO* in, int, OSSL_CALLBACK* data_cb, void* data_cbarg,
           OSSL_PASSPHRASE_CALLBACK* pw_cb, void* pw_cbarg) {
  auto* ctx = static_cast<DecoderCtx*>(vctx);
  return guarded(ctx->provider, 0, [&] {
    auto uri = decode_key_reference(read_all(ctx->provider, in));
    if (!uri) return 1;  // not ours: empty handed
    for (const Found& item : ctx->provider->core->find(Uri::parse(*uri), pin_prompt(pw_cb, pw_cbarg))) {
      if (item.object_class == CKO_PRIVATE_KEY && item.key->type() == ctx->type)
        return pass_key_reference(item.key, item.label, data_cb, data_cbarg);
    }
    return 1;  // a key of another type: that type's decoder answers
  });
}

template <KeyType T, OSSL_FUNC_decoder_decode_fn* Decode>
const OSSL_DISPATCH* decoder_functions() {
  static const OSSL_DISPATCH functions[] = {
      HSMPROV_FN(OSSL_FUNC_DECODER_NEWCTX, OSSL_FUNC_decoder_newctx_fn, newctx<T>),
      HSMPROV_FN(OSSL_FUNC_DECODER_FREECTX, OSSL_FUNC_decoder_freectx_fn, freectx),
      HSMPROV_FN(OSSL_FUNC_DECODER_DOES_SELECTION, OSSL_FUNC_decoder_does_selection_fn, does_selection),
      HSMPROV_FN(OSSL_FUNC_DECODER_DECODE, OSSL_FUNC_decoder_decode_fn, Decode),
      {0, nullptr}};
  return functions;
}

}  // namespace

#define HSMPROV_REFERENCE_PROPERTIES "provider=hsmprov,input=der,structure=hsmprov-key-reference"
const OSSL_ALGORITHM decoder_algorithms[] = {
    {"DER", "provider=hsmprov,input=pem", decoder_functions<KeyType::rsa, decode_pem>(),
     "PEM key reference to DER"},
    {"RSA:rsaEncryption:1.2.840.113549.1.1.1", HSMPROV_REFERENCE_PROPERTIES,
     decoder_functions<KeyType::rsa, decode>(), "token RSA key reference"},
    {"EC:id-ecPublicKey:1.2.840.10045.2.1", HSMPROV_REFERENCE_PROPERTIES, decoder_functions<KeyType::ec, decode>(),
     "token EC key reference"},
    {"ED25519:1.3.101.112", HSMPROV_REFERENCE_PROPERTIES, decoder_functions<KeyType::ed25519, decode>(),
     "token Ed25519 key reference"},
    {nullptr, nullptr, nullptr, nullptr}};

}  // namespace hsmprov
