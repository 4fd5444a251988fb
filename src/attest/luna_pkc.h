// A Luna PKC ("public key confirmation"): a certs-only PKCS#7 SignedData
// holding the chain that attests an HSM key, leaf first. Parsing applies
// the structure rules; a file that breaks one does not load, and the error
// names the rule and the certificate.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <openssl/x509.h>

#include "attest/chain.h"
#include "bytes.h"
#include "handles.h"

namespace hsmprov::pkc {

using attest::X509Ptr;

// Thales' role EKUs, under 1.3.6.1.4.1.12383.1.
constexpr int kRoleKeyAttestation = 13;
// Roles from the leaf to the root, per profile (../shared/DESIGN.md).
const std::vector<int>& rsa_profile();  // 13 <- 12 <- 8 <- 7 <- 1 (Chrysalis-ITS)
const std::vector<int>& ecc_profile();  // 13 <- 15 <- 14

struct Certificate {
  X509Ptr x509;             // the certificate as handed out (ECDSA signature in DER)
  Bytes der;                // its encoding: the file's, but for a re-encoded signature
  int role = 0;             // the last arc of its 12383.1.x EKU, 0 if none
  bool signature_reencoded = false;
};

struct Pkc {
  std::string profile;              // "rsa" or "ecc"
  std::vector<Certificate> chain;   // leaf first, root last
};

// Whether `der` is shaped like a PKC: a PKCS#7 SignedData in which some
// OID lies under Thales' role arc 1.3.6.1.4.1.12383.1. Cheap (no parsing),
// so a decoder can leave every other PKCS#7 to whoever reads it; parse()
// then applies the rules to what passes.
bool looks_like_pkc(const unsigned char* der, size_t size);
// Whether `der` starts as any PKCS#7 SignedData (headers only: a truncated
// one still does), so that evidence detection hands every PKCS#7 to parse(),
// which says what is wrong with it.
bool is_signed_data(const unsigned char* der, size_t size);

// Whether a PEM label is one PKCS#7 is written under.
bool is_pkcs7_label(const std::string& label);

// Thrown when a rule fails: Error(HSMPROV_R_INVALID_ARGUMENT) with message
// "PKC rule 'RULE' fails[ at CERT]: detail".
Pkc parse(const Bytes& input);

// What the leaf tells: from 12383.2.1 (serial), 12383.2.3 (firmware), CN.
std::string hsm_serial(const Pkc& pkc);       // "" when absent
std::string firmware_version(const Pkc& pkc); // "" when absent
std::string hsm_model(const Pkc& pkc);        // from the DAC's CN, "" when absent
std::string key_ouid(const Pkc& pkc);
EVP_PKEY* attested_key(const Pkc& pkc);       // the leaf's public key (owned by the leaf; never null after parse)
Bytes attested_key_der(const Pkc& pkc);       // its SubjectPublicKeyInfo (DER)

}  // namespace hsmprov::pkc
