// Chain verification with OpenSSL's chain builder against the trust anchors.
#include "attest/chain.h"

#include <vector>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "encoded.h"
#include "error.h"
#include "file_bytes.h"

namespace hsmprov::attest {
namespace {

using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX, X509_STORE_CTX_free>>;

void free_x509_stack(STACK_OF(X509) * stack) { sk_X509_free(stack); }  // the certificates stay with the caller
using X509StackPtr = std::unique_ptr<STACK_OF(X509), Deleter<STACK_OF(X509), free_x509_stack>>;
using BasicConstraintsPtr = std::unique_ptr<BASIC_CONSTRAINTS, Deleter<BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free>>;

std::string iso8601(const ASN1_TIME* time) {
  struct tm tm;
  if (!ASN1_TIME_to_tm(time, &tm)) return "?";
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

// Signs the stand-ins below: OpenSSL never checks a trust anchor's own
// signature (unless asked to with X509_V_FLAG_CHECK_SS_SIGNATURE, which we
// do not), but a certificate needs one to be encoded.
EVP_PKEY* throwaway_key() {
  static EVP_PKEY* key = [] {
    EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
    EVP_PKEY* made = nullptr;
    if (!ctx || EVP_PKEY_keygen_init(ctx.get()) <= 0 ||
        EVP_PKEY_CTX_set_group_name(ctx.get(), "P-256") <= 0 || EVP_PKEY_keygen(ctx.get(), &made) <= 0)
      fail(HSMPROV_R_INTERNAL, "cannot make the key that signs trust anchors");
    return made;
  }();
  return key;
}

// RFC 5280 §6.1.1 (d): a trust anchor is a name and a public key. Thales
// publishes its Chrysalis-ITS root as a v3 certificate without
// basicConstraints, which OpenSSL refuses as a CA; so OpenSSL is given a
// stand-in with the anchor's subject, public key and key identifier, CA:TRUE,
// keyCertSign and the anchor's own validity period (OpenSSL checks an
// anchor's dates too, and a root past its end must not vouch for a chain:
// Marvell's manufacturer root ended on 2025-11-16). The checks on
// extensions still apply to every certificate below the anchor.
X509Ptr trust_anchor(X509* published) {
  X509Ptr anchor(X509_new());
  BasicConstraintsPtr ca(BASIC_CONSTRAINTS_new());
  if (!anchor || !ca) fail(HSMPROV_R_INTERNAL, "out of memory");
  ca->ca = 1;
  ASN1_BIT_STRING* usage = ASN1_BIT_STRING_new();
  bool made = usage != nullptr && ASN1_BIT_STRING_set_bit(usage, 5, 1) &&  // keyCertSign
              X509_set_version(anchor.get(), X509_VERSION_3) &&
              X509_set_serialNumber(anchor.get(), X509_get_serialNumber(published)) &&
              X509_set_subject_name(anchor.get(), X509_get_subject_name(published)) &&
              X509_set_issuer_name(anchor.get(), X509_get_subject_name(published)) &&
              X509_set_pubkey(anchor.get(), X509_get0_pubkey(published)) &&
              X509_set1_notBefore(anchor.get(), X509_get0_notBefore(published)) &&
              X509_set1_notAfter(anchor.get(), X509_get0_notAfter(published)) &&
              X509_add1_ext_i2d(anchor.get(), NID_basic_constraints, ca.get(), 1, X509V3_ADD_DEFAULT) &&
              X509_add1_ext_i2d(anchor.get(), NID_key_usage, usage, 1, X509V3_ADD_DEFAULT);
  ASN1_BIT_STRING_free(usage);
  int skid = X509_get_ext_by_NID(published, NID_subject_key_identifier, -1);
  if (made && skid >= 0) made = X509_add_ext(anchor.get(), X509_get_ext(published, skid), -1);
  if (!made || !X509_sign(anchor.get(), throwaway_key(), EVP_sha256()))
    fail(HSMPROV_R_INTERNAL, "cannot make the trust anchor for '" + subject_of(published) + "'");
  return anchor;
}

void add_roots(X509_STORE* store, const std::string& path) {
  std::optional<Bytes> text = read_file(path);  // a regular file, 1 MiB at most
  if (!text) fail(HSMPROV_R_NOT_FOUND, "cannot read the trust anchors '" + path + "'");
  BioPtr in(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
  if (!in) fail(HSMPROV_R_INTERNAL, "out of memory");
  std::vector<X509Ptr> published;
  ERR_set_mark();
  while (X509* read = PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr)) published.emplace_back(read);
  ERR_pop_to_mark();  // the end of the file reads as an error
  if (published.empty()) fail(HSMPROV_R_NOT_FOUND, "no certificate in the trust anchors '" + path + "'");
  for (const X509Ptr& root : published) X509_STORE_add_cert(store, trust_anchor(root.get()).get());
}

// One-line RFC 2253 form of a name.
std::string name_text(const X509_NAME* name) {
  BioPtr out(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(out.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  long size = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

// The subjects of a verified chain, leaf first, the trust anchor last.
std::vector<std::string> path_of(X509_STORE_CTX* ctx) {
  std::vector<std::string> path;
  STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx);
  for (int i = 0; i < sk_X509_num(chain); ++i) path.push_back(subject_of(sk_X509_value(chain, i)));
  return path;
}

// Why a chain failed, naming the certificate; for a date, the certificate's
// validity, and whether it is the trust anchor.
std::string failure_of(X509_STORE_CTX* ctx) {
  int error = X509_STORE_CTX_get_error(ctx);
  X509* at_cert = X509_STORE_CTX_get_current_cert(ctx);
  if (at_cert == nullptr) return std::string("chain to the trust anchors fails: ") + X509_verify_cert_error_string(error);
  std::string reason = "chain to the trust anchors fails at '" + subject_of(at_cert) + "': " +
                       X509_verify_cert_error_string(error);
  if (error == X509_V_ERR_CERT_HAS_EXPIRED || error == X509_V_ERR_CERT_NOT_YET_VALID) {
    STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx);
    bool anchor = sk_X509_num(chain) > 0 && sk_X509_value(chain, sk_X509_num(chain) - 1) == at_cert;
    reason += std::string(anchor ? " (the trust anchor, valid " : " (valid ") + validity_of(at_cert) + ")";
  }
  return reason;
}

// Marvell issues its HSMs' card certificates as X.509 v1 (no extensions,
// so no basicConstraints), and each card certificate issues its partition's.
// OpenSSL takes a v1 certificate for a CA only as a self-signed root; in a
// Marvell chain a v1 certificate without any extension is accepted as the
// leaf's issuer (depth 1) and nowhere else, and every other check holds.
int accept_v1_issuer(int ok, X509_STORE_CTX* ctx) {
  if (ok || X509_STORE_CTX_get_error(ctx) != X509_V_ERR_INVALID_CA) return ok;
  X509* issuer = X509_STORE_CTX_get_current_cert(ctx);
  return issuer != nullptr && X509_STORE_CTX_get_error_depth(ctx) == 1 && X509_get_version(issuer) == X509_VERSION_1 &&
                 X509_get_ext_count(issuer) == 0
             ? 1
             : 0;
}

}  // namespace

X509StorePtr load_roots(const std::vector<std::string>& paths) {
  X509StorePtr store(X509_STORE_new());
  if (!store) fail(HSMPROV_R_INTERNAL, "out of memory");
  for (const std::string& path : paths) add_roots(store.get(), path);
  return store;
}

X509ReqPtr load_csr(const Bytes& input) {
  BioPtr in(BIO_new_mem_buf(input.data(), static_cast<int>(input.size())));
  ERR_set_mark();
  X509ReqPtr csr(PEM_read_bio_X509_REQ(in.get(), nullptr, nullptr, nullptr));
  if (!csr) {
    const unsigned char* p = input.data();
    csr.reset(d2i_X509_REQ(nullptr, &p, static_cast<long>(input.size())));
  }
  ERR_pop_to_mark();
  if (!csr) fail(HSMPROV_R_INVALID_ARGUMENT, "the CSR is neither PEM nor DER PKCS#10");
  return csr;
}

Verdict verify_chain(X509* leaf, const std::vector<X509*>& untrusted, X509_STORE* roots, std::optional<time_t> at,
                     bool v1_issuers) {
  X509StackPtr stack(sk_X509_new_null());
  for (X509* certificate : untrusted)
    if (!stack || !sk_X509_push(stack.get(), certificate)) fail(HSMPROV_R_INTERNAL, "out of memory");
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || !X509_STORE_CTX_init(ctx.get(), roots, leaf, stack.get()))
    fail(HSMPROV_R_INTERNAL, "cannot set up chain verification");
  // The store holds only the stand-ins of trust_anchor(), each the end of a
  // chain: OpenSSL takes a certificate for self-signed only when its
  // signature algorithm fits its key, which a stand-in's need not, and would
  // then look for its issuer. A certificate from the evidence is never in
  // the store, so it is never an anchor.
  X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_PARTIAL_CHAIN);
  if (v1_issuers) X509_STORE_CTX_set_verify_cb(ctx.get(), accept_v1_issuer);
  if (at) {
    X509_STORE_CTX_set_time(ctx.get(), 0, *at);
  } else {
    X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_NO_CHECK_TIME);
  }
  ERR_set_mark();
  int ok = X509_verify_cert(ctx.get());
  ERR_pop_to_mark();
  if (ok == 1) return {true, "", path_of(ctx.get())};
  return {false, failure_of(ctx.get()), {}};
}

Verdict match_csr(EVP_PKEY* attested, X509_REQ* csr) {
  EVP_PKEY* csr_key = X509_REQ_get0_pubkey(csr);
  ERR_set_mark();
  bool self_signed = csr_key != nullptr && X509_REQ_verify(csr, csr_key) == 1;
  ERR_pop_to_mark();
  if (!self_signed) return {false, "the CSR's own signature does not verify", {}};
  if (EVP_PKEY_eq(csr_key, attested) != 1) return {false, "the CSR's public key is not the attested key", {}};
  return {true, "", {}};
}

std::string validity_of(const X509* x509) {
  return iso8601(X509_get0_notBefore(x509)) + " .. " + iso8601(X509_get0_notAfter(x509));
}

std::string subject_of(const X509* x509) { return name_text(X509_get_subject_name(x509)); }
std::string issuer_of(const X509* x509) { return name_text(X509_get_issuer_name(x509)); }

Bytes spki_der(const X509_PUBKEY* key) { return encoded(i2d_X509_PUBKEY, key, "a public key"); }

std::string key_sha256(EVP_PKEY* key) { return sha256_hex(encoded(i2d_PUBKEY, key, "a public key")); }

std::string spki_sha256(const X509_PUBKEY* key) { return sha256_hex(spki_der(key)); }

std::string sha256_hex(const Bytes& der) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  if (EVP_Digest(der.data(), der.size(), digest, nullptr, EVP_sha256(), nullptr) != 1)
    fail(HSMPROV_R_INTERNAL, "cannot hash a public key");
  static const char hex[] = "0123456789abcdef";
  std::string text;
  for (unsigned char byte : digest) text += {hex[byte >> 4], hex[byte & 15]};
  return text;
}

}  // namespace hsmprov::attest
