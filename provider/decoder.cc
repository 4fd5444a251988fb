/* Decoders for key references: the next PEM block, if it is one (ours,
 * "HSMPROV KEY REFERENCE", or pkcs11-provider's "PKCS#11 PROVIDER URI"), to
 * its DER (structure hsmprov-key-reference), and that DER to the token key
 * it names, handed to our keymgmt. Any other input is left alone ("empty
 * handed"), as decoders must; OpenSSL then gives the same bytes to the next
 * decoder, so certificates may stand before or after the reference. */
#include <openssl/core_names.h>
#include <openssl/core_object.h>

#include "attest/luna_pkc.h"
#include "key_data.h"
#include "keys/key_reference.h"
#include "pem_block.h"

namespace hsmprov {
namespace {

constexpr size_t kMaxReferenceFile = 64 * 1024;
constexpr const char* kStructure = "hsmprov-key-reference";

struct DecoderCtx {
  ProviderCtx* provider;
  KeyType type;
};

// A key reference's URI may hold a pin-value (one written by hand; hsmprov
// writes none): the caller wipes what this returns, the stack buffer is
// wiped here. A reference longer than one read (4 KB; one URI is a few
// hundred bytes) leaves parts of it in the buffers the vector outgrew.
Bytes read_all(ProviderCtx* provider, OSSL_CORE_BIO* in) {
  Bytes text;
  char buffer[4096];
  size_t got = 0;
  while (text.size() < kMaxReferenceFile && provider->bio_read_ex(in, buffer, sizeof buffer, &got) && got > 0)
    text.insert(text.end(), buffer, buffer + got);
  OPENSSL_cleanse(buffer, sizeof buffer);
  return text;
}

// Wipes the DER of a key reference, and the URI read from it, however the
// decoding ends.
struct WipedReference {
  Bytes der;
  std::optional<std::string> uri;
  ~WipedReference() {
    wipe(der);
    if (uri) wipe(*uri);
  }
};

template <KeyType T>
void* newctx(void* provctx) {
  return new (std::nothrow) DecoderCtx{static_cast<ProviderCtx*>(provctx), T};
}

void freectx(void* vctx) { delete static_cast<DecoderCtx*>(vctx); }

int does_selection(void*, int selection) {
  return selection == 0 || (selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0;
}

// Why the key decoders below failed on this thread's last reference. OpenSSL
// (3.0 and 3.5) drops the errors of a decoder deeper in the chain, so the
// first decoder, whose errors it keeps, raises the cause again.
thread_local std::optional<Error> key_failure;

// OpenSSL hands one reference to each key type's decoder in turn (RSA, EC,
// Ed25519): the token is searched once, by the first, and the others take
// its answer (or its failure) while the file decoder that started them runs.
struct ReferenceLookup {
  bool done = false;
  std::string uri;  // may hold a pin-value: wiped with the scope
  std::vector<Found> found;
  std::optional<Error> failure;
};
thread_local ReferenceLookup* shared_lookup = nullptr;

class LookupScope {
 public:
  LookupScope() : outer_(shared_lookup) { shared_lookup = &lookup_; }
  ~LookupScope() {
    shared_lookup = outer_;
    wipe(lookup_.uri);
  }
  LookupScope(const LookupScope&) = delete;
  LookupScope& operator=(const LookupScope&) = delete;

 private:
  ReferenceLookup lookup_;
  ReferenceLookup* outer_;
};

std::vector<Found> found_once(ProviderCtx* provider, const std::string& uri, const PinPrompt& prompt) {
  ReferenceLookup* lookup = shared_lookup;
  if (lookup == nullptr) return provider->core->find(Uri::parse(uri), prompt);  // DER given to a key decoder directly
  if (!lookup->done || lookup->uri != uri) {
    wipe(lookup->uri);
    *lookup = ReferenceLookup{true, uri, {}, std::nullopt};
    try {
      lookup->found = provider->core->find(Uri::parse(uri), prompt);
    } catch (const Error& e) {
      lookup->failure = e;
    }
  }
  if (lookup->failure) throw Error(*lookup->failure);
  return lookup->found;
}

bool pem_block_we_read(const std::string& label) { return is_key_reference_label(label) || pkc::is_pkcs7_label(label); }

// The first decoder a file meets. A key reference's PEM block goes on as
// DER to the key decoders below; a Luna PKC, DER or PEM, is decoded here
// (pkc_decoder.cc); anything else is left alone. One decoder for both: on
// OpenSSL 3.0 each decoder in a chain costs every program that reads a
// certificate, whether it ever sees a PKC or not.
int decode_file(void* vctx, OSSL_CORE_BIO* in, int, OSSL_CALLBACK* data_cb, void* data_cbarg,
                OSSL_PASSPHRASE_CALLBACK*, void*) {
  auto* ctx = static_cast<DecoderCtx*>(vctx);
  return guarded(ctx->provider, 0, [&] {
    BioPtr bio = ctx->provider->bio_for(in);
    if (auto der = read_der_pkc(bio.get())) return pass_pkc(*der, data_cb, data_cbarg);
    auto block = read_pem_block(bio.get(), pem_block_we_read);
    if (!block) return 1;
    if (pkc::is_pkcs7_label(block->label))  // a PKC, or an ordinary PKCS#7 left to others
      return pkc::looks_like_pkc(block->der.data(), block->der.size()) ? pass_pkc(block->der, data_cb, data_cbarg) : 1;
    WipedReference reference{std::move(block->der), std::nullopt};  // the DER holds the URI
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA, reference.der.data(), reference.der.size()),
        OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_STRUCTURE, const_cast<char*>(kStructure), 0),
        OSSL_PARAM_construct_end()};
    key_failure.reset();
    LookupScope lookup;
    if (data_cb(params, data_cbarg)) return 1;
    if (key_failure) throw Error(*key_failure);
    return 0;
  });
}

int decode(void* vctx, OSSL_CORE_BIO* in, int, OSSL_CALLBACK* data_cb, void* data_cbarg,
           OSSL_PASSPHRASE_CALLBACK* pw_cb, void* pw_cbarg) {
  auto* ctx = static_cast<DecoderCtx*>(vctx);
  return guarded(ctx->provider, 0, [&] {
    WipedReference reference{read_all(ctx->provider, in), std::nullopt};
    reference.uri = decode_key_reference(reference.der);
    if (!reference.uri) return 1;  // not ours: empty handed
    try {
      for (const Found& item : found_once(ctx->provider, *reference.uri, pin_prompt(pw_cb, pw_cbarg))) {
        if (item.object_class == CKO_PRIVATE_KEY && item.key->type() == ctx->type)
          return pass_key_reference(item.key, item.label, data_cb, data_cbarg);
      }
    } catch (const Error& e) {
      key_failure = e;
      throw;
    }
    return 1;  // a key of another type: that type's decoder answers
  });
}

template <KeyType T, OSSL_FUNC_decoder_decode_fn* Decode>
const OSSL_DISPATCH decoder_functions[] = {
    HSMPROV_FN(OSSL_FUNC_DECODER_NEWCTX, OSSL_FUNC_decoder_newctx_fn, newctx<T>),
    HSMPROV_FN(OSSL_FUNC_DECODER_FREECTX, OSSL_FUNC_decoder_freectx_fn, freectx),
    HSMPROV_FN(OSSL_FUNC_DECODER_DOES_SELECTION, OSSL_FUNC_decoder_does_selection_fn, does_selection),
    HSMPROV_FN(OSSL_FUNC_DECODER_DECODE, OSSL_FUNC_decoder_decode_fn, Decode),
    {0, nullptr}};

}  // namespace

#define HSMPROV_REFERENCE_PROPERTIES "provider=hsmprov,input=der,structure=hsmprov-key-reference"
const OSSL_ALGORITHM decoder_algorithms[] = {
    // input=pem: OpenSSL 3.0 and 3.5 hand a file's first decoder any input,
    // so a DER PKC reaches it too (not with -inform DER).
    {"DER", "provider=hsmprov,input=pem", decoder_functions<KeyType::rsa, decode_file>,
     "PEM key reference to DER; Luna PKC (PEM or DER) to its attested key or leaf"},
    {"RSA:rsaEncryption:1.2.840.113549.1.1.1", HSMPROV_REFERENCE_PROPERTIES,
     decoder_functions<KeyType::rsa, decode>, "token RSA key reference"},
    {"EC:id-ecPublicKey:1.2.840.10045.2.1", HSMPROV_REFERENCE_PROPERTIES, decoder_functions<KeyType::ec, decode>,
     "token EC key reference"},
    {"ED25519:1.3.101.112", HSMPROV_REFERENCE_PROPERTIES, decoder_functions<KeyType::ed25519, decode>,
     "token Ed25519 key reference"},
#if HSMPROV_WITH_ML_DSA
    {HSMPROV_ML_DSA_44_NAMES, HSMPROV_REFERENCE_PROPERTIES, decoder_functions<KeyType::ml_dsa_44, decode>,
     "token ML-DSA-44 key reference"},
    {HSMPROV_ML_DSA_65_NAMES, HSMPROV_REFERENCE_PROPERTIES, decoder_functions<KeyType::ml_dsa_65, decode>,
     "token ML-DSA-65 key reference"},
    {HSMPROV_ML_DSA_87_NAMES, HSMPROV_REFERENCE_PROPERTIES, decoder_functions<KeyType::ml_dsa_87, decode>,
     "token ML-DSA-87 key reference"},
#endif
    {nullptr, nullptr, nullptr, nullptr}};

}  // namespace hsmprov
