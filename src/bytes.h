// The byte string type every layer passes DER, attribute values and
// ciphertexts in.
#pragma once

#include <vector>

namespace hsmprov {

using Bytes = std::vector<unsigned char>;

}  // namespace hsmprov
