// The verdict on a Marvell LiquidSecurity attestation (Google Cloud HSM;
// Azure Managed HSM wraps the same blob in JSON): the blob's signature by a
// certificate given with --chain (the HSM partition's), that certificate's
// chains to two trust anchors (the manufacturer's and the owner's), and the
// attested key with its attributes.
#pragma once

#include "attest/report.h"
#include "bytes.h"

namespace hsmprov::attest::marvell {

// `checks.intermediates` holds the chains' certificates (--chain).
Report check(const Bytes& input, const Checks& checks);

}  // namespace hsmprov::attest::marvell
