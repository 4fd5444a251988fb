// The reference a token key is written as (genpkey -out, pkey): PEM
// "HSMPROV KEY REFERENCE" around DER SEQUENCE { VisibleString
// "HSMPROV KEY REFERENCE", UTF8String uri }. It holds no key material and
// no PIN; reading it back finds the same token key.
#pragma once

#include <optional>
#include <string>

#include "bytes.h"

namespace hsmprov {

std::string encode_key_reference(const std::string& uri);
// The DER inside the PEM block, or nullopt when `pem` holds no key reference.
std::optional<Bytes> key_reference_der(const Bytes& pem);
// The URI, or nullopt when `der` is not a key reference (someone else's DER).
std::optional<std::string> decode_key_reference(const Bytes& der);

}  // namespace hsmprov
