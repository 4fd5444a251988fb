// PKC verification with OpenSSL's chain builder against the pinned roots.
#include "pkc/verify.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include "error.h"

namespace hsmprov::pkc {
namespace {

using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX, X509_STORE_CTX_free>>;

void free_x509_stack(STACK_OF(X509) * stack) { sk_X509_free(stack); }  // the certificates stay with the Pkc
using X509StackPtr = std::unique_ptr<STACK_OF(X509), Deleter<STACK_OF(X509), free_x509_stack>>;

std::string iso8601(const ASN1_TIME* time) {
  struct tm tm;
  if (!ASN1_TIME_to_tm(time, &tm)) return "?";
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

}  // namespace

X509StorePtr load_roots(const std::string& path) {
  X509StorePtr store(X509_STORE_new());
  BioPtr in(BIO_new_file(path.c_str(), "r"));
  if (!store || !in) fail(HSMPROV_R_NOT_FOUND, "cannot read the trust anchors '" + path + "'");
  int count = 0;
  ERR_set_mark();
  while (X509* root = PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store.get(), root);
    X509_free(root);
    ++count;
  }
  ERR_pop_to_mark();  // the end of the file reads as an error
  if (count == 0) fail(HSMPROV_R_NOT_FOUND, "no certificate in the trust anchors '" + path + "'");
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

Verdict verify_chain(const Pkc& pkc, X509_STORE* roots, std::optional<time_t> at) {
  X509StackPtr untrusted(sk_X509_new_null());
  for (size_t i = 1; i < pkc.chain.size(); ++i) sk_X509_push(untrusted.get(), pkc.chain[i].x509.get());
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || !X509_STORE_CTX_init(ctx.get(), roots, pkc.chain.front().x509.get(), untrusted.get()))
    fail(HSMPROV_R_INTERNAL, "cannot set up chain verification");
  if (at) {
    X509_STORE_CTX_set_time(ctx.get(), 0, *at);
  } else {
    X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_NO_CHECK_TIME);
  }
  ERR_set_mark();
  int ok = X509_verify_cert(ctx.get());
  ERR_pop_to_mark();
  if (ok == 1) return {true, ""};
  int error = X509_STORE_CTX_get_error(ctx.get());
  X509* at_cert = X509_STORE_CTX_get_current_cert(ctx.get());
  std::string where = at_cert ? " at '" + subject_of(at_cert) + "'" : "";
  return {false, std::string("chain to the pinned roots fails") + where + ": " + X509_verify_cert_error_string(error)};
}

Verdict match_csr(const Pkc& pkc, X509_REQ* csr) {
  EVP_PKEY* csr_key = X509_REQ_get0_pubkey(csr);
  ERR_set_mark();
  bool self_signed = csr_key != nullptr && X509_REQ_verify(csr, csr_key) == 1;
  ERR_pop_to_mark();
  if (!self_signed) return {false, "the CSR's own signature does not verify"};
  if (EVP_PKEY_eq(csr_key, attested_key(pkc)) != 1) return {false, "the CSR's public key is not the attested key"};
  return {true, ""};
}

std::string validity_of(const X509* x509) {
  return iso8601(X509_get0_notBefore(x509)) + " .. " + iso8601(X509_get0_notAfter(x509));
}

Report check(const Bytes& input, X509_STORE* roots, std::optional<time_t> at, X509_REQ* csr) {
  Report report;
  try {
    report.pkc = parse(input);
  } catch (const Error& e) {
    report.reason = e.what();
    return report;
  }
  Verdict verdict = verify_chain(*report.pkc, roots, at);
  report.dates_checked = at.has_value();
  if (verdict.valid && csr != nullptr) {
    verdict = match_csr(*report.pkc, csr);
    report.csr_checked = true;
  }
  report.valid = verdict.valid;
  report.reason = verdict.reason;
  return report;
}

}  // namespace hsmprov::pkc
