// Evidence files told apart by their bytes, not their names: a PKCS#7 is a
// Luna PKC; a file of X.509 certificates one of which carries Yubico's
// attestation extension is a YubiKey PIV attestation; gzip data, or a blob
// that opens with Marvell's response header, is a Marvell attestation. Each goes to its
// vendor's check, and all come back as one report shape.
#pragma once

#include <vector>

#include "attest/chain.h"
#include "attest/report.h"
#include "bytes.h"

namespace hsmprov::attest {

// The trust anchors of each vendor's evidence. Each vendor's own by default,
// so that no vendor's chain can end at another vendor's root (a Marvell
// chain at a Luna root, say); `--roots` gives one store for all.
struct Anchors {
  X509_STORE* luna = nullptr;
  X509_STORE* yubikey = nullptr;
  X509_STORE* marvell = nullptr;
};

// The verdict on one evidence file, checked against its vendor's anchors
// (they replace `checks.roots`). Throws Error(HSMPROV_R_INVALID_ARGUMENT)
// when the file is no attestation hsmprov-pkc knows, or is damaged before
// its kind can be told (a certificate cut short): nothing was verified, so
// there is no verdict to give.
Report verify_evidence(const Bytes& input, const Anchors& anchors, Checks checks);

// The certificates of a PEM file (its CERTIFICATE blocks; other blocks are
// passed over) or of a file holding one DER certificate; empty when the
// file is neither. Throws for a certificate that is cut short or damaged.
std::vector<X509Ptr> read_certificates(const Bytes& input);

}  // namespace hsmprov::attest
