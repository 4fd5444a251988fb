// A YubiKey PIV attestation: an X.509 certificate the YubiKey issues for a
// key it generated in one of its PIV slots, signed by the device's own
// attestation key (slot f9, "Yubico PIV Attestation"), whose certificate
// Yubico's PIV attestation root signed. Yubico's extensions under
// 1.3.6.1.4.1.41482.3 say what the device and the slot's policies are.
#pragma once

#include <string>
#include <vector>

#include <openssl/x509.h>

#include "attest/report.h"

namespace hsmprov::attest::yubikey {

// Whether the certificate carries Yubico's firmware extension
// 1.3.6.1.4.1.41482.3.3, which every PIV attestation certificate has (and so
// does the device's f9 certificate that signs them).
bool is_attestation(const X509* x509);

// What the attestation certificate says. A field the firmware does not give
// (older firmware lacks .3.8 and .3.9) is "".
struct Facts {
  std::string slot;          // "9a", from the subject "YubiKey PIV Attestation 9a"
  std::string firmware;      // "5.4.3", from .3.3
  std::string serial;        // "28557046", from .3.7
  std::string pin_policy;    // "never", "once", "always", from .3.8
  std::string touch_policy;  // "never", "always", "cached", from .3.8
  std::string form_factor;   // "USB-A keychain"..., from .3.9
  std::string fips;          // "true" or "false" (.3.9's 0x80 bit)
  std::string cspn;          // "true" or "false" (.3.9's 0x40 bit)
};

// Throws Error(HSMPROV_R_INVALID_ARGUMENT) naming the extension, or the
// subject, that does not decode as Yubico documents it.
Facts facts_of(const X509* attestation);

// The verdict on an attestation certificate; `others` are the other
// certificates of its file (the device's f9 certificate), candidates for
// the chain, never anchors.
Report check(X509* attestation, const std::vector<X509*>& others, const Checks& checks);

}  // namespace hsmprov::attest::yubikey
