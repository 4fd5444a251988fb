// Reading one PEM block at a time, as OpenSSL reads PEM (text around the
// blocks, CRLF line ends), for decoders that take only the blocks they know
// and leave every other one to the next decoder.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include <openssl/bio.h>

#include "bytes.h"

namespace hsmprov {

struct PemBlock {
  std::string label;  // "PKCS7" for "-----BEGIN PKCS7-----"
  Bytes der;
};

// The next block in `in` if `wanted(label)`; nullopt for another block, or
// none. Throws Error(HSMPROV_R_INVALID_ARGUMENT) for a wanted block that is
// damaged.
std::optional<PemBlock> read_pem_block(BIO* in, const std::function<bool(const std::string&)>& wanted);

}  // namespace hsmprov
