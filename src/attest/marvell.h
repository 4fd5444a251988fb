// A Marvell LiquidSecurity (formerly Cavium) key attestation, as Google
// Cloud HSM gives it (`gcloud kms keys versions describe
// --attestation-file`, gzip-compressed) and Azure Managed HSM wraps in JSON:
// the attributes of the key pair's two objects, signed by the HSM
// partition's key. The layout (big-endian) is the one Google and Marvell
// document:
//   response header  code, flags, total size, size of the attribute buffer (4 x u32)
//   ...              the objects' handles
//   attribute buffer at total - (buffer size + 256):
//     info header    version, flags, offset of the public key's object,
//                    offset of the private key's (4 x u16, from the buffer's start)
//     object         handle, attribute count, object size (3 x u32), then
//                    per attribute: type, length (2 x u32) and the value
//   signature        256 bytes: RSA PKCS#1 v1.5 with SHA-256 over all before it
// Attribute types are PKCS#11's (CKA_*).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <openssl/x509.h>

#include "bytes.h"
#include "handles.h"

namespace hsmprov::attest::marvell {

constexpr size_t kSignatureSize = 256;

struct KeyObject {
  std::string name;  // "public" or "private", for messages
  uint32_t handle = 0;
  std::map<uint32_t, Bytes> attributes;  // CKA_* -> value

  const Bytes* find(uint32_t type) const;
  // A CK_BBOOL attribute; nullopt when absent. Throws when not one byte.
  std::optional<bool> flag(uint32_t type) const;
  // A CK_ULONG attribute (big-endian, 1 to 8 bytes); nullopt when absent.
  std::optional<uint64_t> number(uint32_t type) const;
};

struct Attestation {
  Bytes blob;             // decompressed
  KeyObject public_key;   // CKO_PUBLIC_KEY
  KeyObject private_key;  // CKO_PRIVATE_KEY

  // What the signature covers, and the signature.
  const unsigned char* signed_data() const { return blob.data(); }
  size_t signed_size() const { return blob.size() - kSignatureSize; }
  const unsigned char* signature() const { return blob.data() + signed_size(); }
};

// Whether `input` starts with a response header (code 0, sizes an
// attestation may have), or is gzip data that does or cannot be read: so
// that evidence can be told apart by its bytes.
bool looks_like_marvell(const Bytes& input);

// Decompresses gzip input (bounded) and applies the layout above, and that
// both objects describe the same key (type and public value). Throws
// Error(HSMPROV_R_INVALID_ARGUMENT) naming what does not hold ("truncated"
// when the data ends early).
Attestation parse(const Bytes& input);

// The attested public key, from the public object's CKA_MODULUS and
// CKA_PUBLIC_EXPONENT (RSA) or its EC point, whose curve is the one of
// P-256, P-384, P-521 and secp256k1 the point lies on. Throws when none fits.
EvpPkeyPtr public_key(const Attestation& attestation);

// Whether `key` made the attestation's signature.
bool signed_by(const Attestation& attestation, EVP_PKEY* key);

}  // namespace hsmprov::attest::marvell
