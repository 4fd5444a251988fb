// Offline verification of a PKC: its chain to trust anchors (never a root
// from inside the file), every signature, the validity dates, the match
// between the attested key and a CSR, and a CA's key policy.
#pragma once

#include <ctime>
#include <optional>
#include <string>

#include <openssl/x509_vfy.h>

#include <vector>

#include "pkc/pkc.h"
#include "pkc/policy.h"

namespace hsmprov::pkc {

using X509StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;
using X509ReqPtr = std::unique_ptr<X509_REQ, Deleter<X509_REQ, X509_REQ_free>>;

// The trust anchors: every certificate of a PEM file, each trusted as its
// name and public key (RFC 5280 §6.1.1 (d)) whatever its extensions and
// dates. Throws if none.
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

// SHA-256 of the key's SubjectPublicKeyInfo (DER), in hex: the fingerprint
// a CA matches against its records.
std::string spki_sha256(const X509_PUBKEY* key);

// Everything `hsmprov-pkc verify` checks for one file, in one verdict.
struct Report {
  bool valid = false;
  std::string reason;                // the first check that failed
  std::vector<std::string> reasons;  // every check that failed
  std::optional<Pkc> pkc;            // when the structure rules held
  bool dates_checked = false;
  bool csr_checked = false;
  bool csr_matches = false;
  std::string attested_key_sha256;   // spki_sha256 of the attested key
  std::string csr_key_sha256;        // and of the CSR's, with a CSR
  std::optional<PolicyResult> policy;
};

// `policy`: one of policy_names(), or empty for none.
Report check(const Bytes& input, X509_STORE* roots, std::optional<time_t> at, X509_REQ* csr,
             const std::string& policy);

}  // namespace hsmprov::pkc
