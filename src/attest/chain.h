// Vendor-neutral X.509 checks for key attestations: trust anchors, the
// chain from an attestation certificate to them (never through a root
// from the evidence file), the validity dates, and a CSR's key against the
// attested key.
#pragma once

#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "bytes.h"
#include "handles.h"

namespace hsmprov::attest {

using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using X509StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;
using X509ReqPtr = std::unique_ptr<X509_REQ, Deleter<X509_REQ, X509_REQ_free>>;

// The trust anchors: every certificate of each PEM file, each trusted as
// its name and public key (RFC 5280 §6.1.1 (d)) whatever its extensions;
// its validity period counts when dates are checked. Throws if a file
// cannot be read or holds no certificate.
X509StorePtr load_roots(const std::vector<std::string>& paths);
// A CSR in PEM or DER. Throws if unreadable.
X509ReqPtr load_csr(const Bytes& input);

struct Verdict {
  bool valid = false;
  std::string reason;             // why not, when not valid
  std::vector<std::string> path;  // a valid chain's subjects, leaf first, the trust anchor last
};

// `leaf` up to the roots, with `untrusted` as candidate intermediates (a
// certificate among them is never an anchor). `at`: the time to check
// validity dates at; without it dates are not checked. `v1_issuers`: an
// X.509 v1 certificate may issue others (Marvell's card certificates).
Verdict verify_chain(X509* leaf, const std::vector<X509*>& untrusted, X509_STORE* roots, std::optional<time_t> at,
                     bool v1_issuers = false);
// The CSR's self-signature, then that its key is `attested`.
Verdict match_csr(EVP_PKEY* attested, X509_REQ* csr);

// "notBefore .. notAfter" of a certificate, ISO 8601 UTC.
std::string validity_of(const X509* x509);
// One-line RFC 2253 form of the subject, and of the issuer.
std::string subject_of(const X509* x509);
std::string issuer_of(const X509* x509);
// A SubjectPublicKeyInfo as read, not i2d_PUBKEY of an EVP_PKEY: on
// OpenSSL 3.0 that goes through the encoders and costs as much as a
// signature check.
Bytes spki_der(const X509_PUBKEY* key);
// SHA-256 of the key's SubjectPublicKeyInfo (DER), in hex: the fingerprint
// a CA matches against its records.
std::string spki_sha256(const X509_PUBKEY* key);
// The same for a key that comes in no certificate (i2d_PUBKEY: slower on
// OpenSSL 3.0, see spki_der).
std::string key_sha256(EVP_PKEY* key);
std::string sha256_hex(const Bytes& der);

}  // namespace hsmprov::attest
