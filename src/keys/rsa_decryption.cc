// RSA decryption by mechanism (CKM_RSA_PKCS, CKM_RSA_PKCS_OAEP; TLS premaster
// secrets in tls_premaster.cc) and software encryption.
#include "keys/rsa_decryption.h"

#include "error.h"
#include "keys/mechanism.h"

namespace hsmprov {

Bytes decrypt_with_token(Key& key, const DecryptionSettings& settings, const unsigned char* in, size_t size) {
  if (key.type() != KeyType::rsa) fail(HSMPROV_R_UNSUPPORTED, key.where() + ": only RSA keys decrypt");
  if (settings.padding == RSA_PKCS1_PADDING) {
    CK_MECHANISM mechanism{CKM_RSA_PKCS, nullptr, 0};
    return key.decrypt(mechanism, in, size);
  }
  if (settings.padding == RSA_PKCS1_WITH_TLS_PADDING) return tls_premaster_secret(key, settings.tls, in, size);
  if (settings.padding != RSA_PKCS1_OAEP_PADDING)
    fail(HSMPROV_R_UNSUPPORTED, "token keys decrypt with pkcs1, oaep or TLS padding only");
  const EVP_MD* md = settings.oaep_md ? settings.oaep_md : EVP_sha1();
  const EVP_MD* mgf1 = settings.mgf1 ? settings.mgf1 : md;
  CK_RSA_PKCS_OAEP_PARAMS params{hash_mechanism(md), mgf1_for(mgf1), CKZ_DATA_SPECIFIED,
                                 settings.label.empty() ? nullptr : const_cast<unsigned char*>(settings.label.data()),
                                 settings.label.size()};
  CK_MECHANISM mechanism{CKM_RSA_PKCS_OAEP, &params, sizeof params};
  return key.decrypt(mechanism, in, size);
}

Bytes encrypt_in_software(OSSL_LIB_CTX* libctx, Key& key, const DecryptionSettings& settings, const unsigned char* in,
                          size_t size) {
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(libctx, key.public_key(), nullptr));
  bool ok = ctx && EVP_PKEY_encrypt_init(ctx.get()) > 0 && EVP_PKEY_CTX_set_rsa_padding(ctx.get(), settings.padding) > 0;
  if (ok && settings.padding == RSA_PKCS1_OAEP_PADDING) {
    ok = (!settings.oaep_md || EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), settings.oaep_md) > 0) &&
         (!settings.mgf1 || EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), settings.mgf1) > 0);
    if (ok && !settings.label.empty()) {
      auto* copy = static_cast<unsigned char*>(OPENSSL_memdup(settings.label.data(), settings.label.size()));
      ok = copy != nullptr && EVP_PKEY_CTX_set0_rsa_oaep_label(ctx.get(), copy, static_cast<int>(settings.label.size())) > 0;
      if (!ok) OPENSSL_free(copy);
    }
  }
  size_t out_size = 0;
  if (!ok || EVP_PKEY_encrypt(ctx.get(), nullptr, &out_size, in, size) <= 0)
    fail(HSMPROV_R_INVALID_ARGUMENT, "cannot encrypt with these parameters");
  Bytes out(out_size);
  if (EVP_PKEY_encrypt(ctx.get(), out.data(), &out_size, in, size) <= 0)
    fail(HSMPROV_R_INVALID_ARGUMENT, "encryption failed (input too long?)");
  out.resize(out_size);
  return out;
}

}  // namespace hsmprov
