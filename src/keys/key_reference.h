// The reference a token key is written as (genpkey -out, pkey): PEM
// "HSMPROV KEY REFERENCE" around DER SEQUENCE { VisibleString
// "HSMPROV KEY REFERENCE", UTF8String uri }. It holds no key material and
// no PIN; reading it back finds the same token key. latchset's
// pkcs11-provider writes the same shape ("PKCS#11 PROVIDER URI" around
// VisibleString "PKCS#11 Provider URI v1.0"), read here as an alias.
#pragma once

#include <optional>
#include <string>

#include <openssl/bio.h>

#include "bytes.h"

namespace hsmprov {

std::string encode_key_reference(const std::string& uri);
// The DER of the next PEM block in `in` if it is a key reference; nullopt
// for any other block, or none. Reads as OpenSSL reads PEM (text around
// blocks, CRLF), one block per call, so that certificates and a reference
// may come in any order. Throws for a damaged reference block.
std::optional<Bytes> read_key_reference_block(BIO* in);
// Whether a PEM label is one of the key reference's.
bool is_key_reference_label(const std::string& label);
// The URI, or nullopt when `der` is not a key reference (someone else's DER).
std::optional<std::string> decode_key_reference(const Bytes& der);

}  // namespace hsmprov
