// Telling evidence apart, and handing it to its vendor's check.
#include "attest/evidence.h"

#include <algorithm>
#include <string>

#include "attest/luna_check.h"
#include "attest/luna_pkc.h"
#include "attest/marvell.h"
#include "attest/marvell_check.h"
#include "attest/yubikey.h"
#include "der.h"
#include "error.h"
#include "pem_block.h"

namespace hsmprov::attest {
namespace {

[[noreturn]] void unknown(const std::string& detail) {
  fail(HSMPROV_R_INVALID_ARGUMENT,
       "not an attestation hsmprov-pkc knows (a Luna PKC, a YubiKey PIV attestation, a Marvell attestation): " + detail);
}

[[noreturn]] void damaged(const std::string& detail) {
  fail(HSMPROV_R_INVALID_ARGUMENT, "cannot be read as an attestation: " + detail);
}

bool contains(const Bytes& input, const std::string& text) {
  return std::search(input.begin(), input.end(), text.begin(), text.end()) != input.end();
}

// PEM as OpenSSL reads it: text may stand before the first block.
bool is_pem(const Bytes& input) { return input[0] != 0x30 && contains(input, "-----BEGIN "); }

// Any PKCS#7 goes to the PKC parser, which names the rule a file breaks:
// a truncated PKC or a signed message is an invalid PKC, not an unknown file.
bool is_pkcs7(const Bytes& input) {
  if (is_pem(input)) return contains(input, "-----BEGIN PKCS7-----") || contains(input, "-----BEGIN PKCS #7 SIGNED DATA-----");
  return pkc::is_signed_data(input.data(), input.size());
}

X509Ptr certificate_of(const Bytes& der, size_t position) {
  const unsigned char* at = der.data();
  X509Ptr x509(d2i_X509(nullptr, &at, static_cast<long>(der.size())));
  if (!x509 || at != der.data() + der.size())
    damaged("certificate " + std::to_string(position) + " of the file cannot be parsed");
  return x509;
}

std::vector<X509Ptr> pem_certificates(const Bytes& input) {
  BioPtr in(BIO_new_mem_buf(input.data(), static_cast<int>(input.size())));
  if (!in) fail(HSMPROV_R_INTERNAL, "out of memory");
  std::vector<X509Ptr> certificates;
  try {
    while (auto block = read_pem_block(in.get(), [](const std::string&) { return true; }))
      if (block->label == "CERTIFICATE") certificates.push_back(certificate_of(block->der, certificates.size() + 1));
  } catch (const Error& e) {
    damaged(e.what());
  }
  return certificates;
}

std::vector<X509Ptr> der_certificate(const Bytes& input) {
  auto tlv = der::read(input.data(), input.size());
  if (!tlv) damaged("the file is truncated: its DER runs past the end of the file");
  if (tlv->total_size != input.size()) return {};
  const unsigned char* at = input.data();
  X509Ptr x509(d2i_X509(nullptr, &at, static_cast<long>(input.size())));
  std::vector<X509Ptr> certificates;
  if (x509 && at == input.data() + input.size()) certificates.push_back(std::move(x509));
  return certificates;
}

// The device's f9 certificate carries Yubico's firmware extension too; the
// attestation is the leaf: the certificate that issued none of the others.
bool issues_another(X509* x509, const std::vector<X509Ptr>& certificates) {
  return std::any_of(certificates.begin(), certificates.end(), [&](const X509Ptr& c) {
    return c.get() != x509 && X509_NAME_cmp(X509_get_issuer_name(c.get()), X509_get_subject_name(x509)) == 0;
  });
}

// The one YubiKey attestation among a file's certificates; the others go to `others`.
X509* attestation_among(const std::vector<X509Ptr>& certificates, std::vector<X509*>& others) {
  X509* attestation = nullptr;
  for (const X509Ptr& c : certificates) {
    if (!yubikey::is_attestation(c.get()) || issues_another(c.get(), certificates)) {
      others.push_back(c.get());
    } else if (attestation != nullptr) {
      unknown("more than one certificate is a YubiKey attestation; a file holds one");
    } else {
      attestation = c.get();
    }
  }
  if (attestation == nullptr)
    unknown("no certificate is a YubiKey attestation (a leaf with Yubico's extension 1.3.6.1.4.1.41482.3.3)");
  return attestation;
}

}  // namespace

std::vector<X509Ptr> read_certificates(const Bytes& input) {
  if (input.empty()) return {};
  if (is_pem(input)) return pem_certificates(input);
  return input[0] == 0x30 ? der_certificate(input) : std::vector<X509Ptr>{};
}

Report verify_evidence(const Bytes& input, const Anchors& anchors, Checks checks) {
  if (input.empty()) unknown("the file is empty");
  if (marvell::looks_like_marvell(input)) {  // gzip of a Marvell blob, or Marvell's header
    checks.roots = anchors.marvell;
    return marvell::check(input, checks);
  }
  if (is_pkcs7(input)) {
    checks.roots = anchors.luna;
    return pkc::check(input, checks);
  }
  std::vector<X509Ptr> certificates = read_certificates(input);
  if (certificates.empty()) unknown("neither a PKCS#7 nor X.509 certificates");
  std::vector<X509*> others;  // the device's f9 certificate: an intermediate, never an anchor
  X509* attestation = attestation_among(certificates, others);
  checks.roots = anchors.yubikey;
  return yubikey::check(attestation, others, checks);
}

}  // namespace hsmprov::attest
