// Offline verification of a PKC: its chain to pinned trust anchors (never a
// root from inside the file), every signature, the validity dates, and the
// match between the attested key and a CSR.
#pragma once

#include <ctime>
#include <optional>
#include <string>

#include <openssl/x509_vfy.h>

#include "pkc/pkc.h"

namespace hsmprov::pkc {

using X509StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;
using X509ReqPtr = std::unique_ptr<X509_REQ, Deleter<X509_REQ, X509_REQ_free>>;

// The trust anchors: every certificate of a PEM file. Throws if none.
X509StorePtr load_roots(const std::string& path);
// A CSR in PEM or DER. Throws if unreadable.
X509ReqPtr load_csr(const Bytes& input);

struct Verdict {
  bool valid = false;
  std::string reason;  // why not, when not valid
};

// `at`: the time to check validity dates at; without it dates are not checked.
Verdict verify_chain(const Pkc& pkc, X509_STORE* roots, std::optional<time_t> at);
// The CSR's self-signature and that its key is the attested key.
Verdict match_csr(const Pkc& pkc, X509_REQ* csr);

// "notBefore .. notAfter" of a certificate, ISO 8601 UTC.
std::string validity_of(const X509* x509);

// Everything `hsmprov-pkc verify` checks for one file, in one verdict.
struct Report {
  bool valid = false;
  std::string reason;            // the first check that failed
  std::optional<Pkc> pkc;        // when the structure rules held
  bool dates_checked = false;
  bool csr_checked = false;
};

Report check(const Bytes& input, X509_STORE* roots, std::optional<time_t> at, X509_REQ* csr);

}  // namespace hsmprov::pkc
