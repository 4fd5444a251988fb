// Offline verification of a Luna PKC: its structure rules, then the checks
// every attestation gets (attest/report.h), with Luna's own facts and its
// rule on how the key was made.
#pragma once

#include "attest/report.h"
#include "bytes.h"

namespace hsmprov::pkc {

// The verdict on a PKC file's bytes (DER or PEM PKCS#7). The chain's
// certificates other than the leaf are candidates, never anchors.
attest::Report check(const Bytes& input, const attest::Checks& checks);

}  // namespace hsmprov::pkc
