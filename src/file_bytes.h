// Reading a whole file (PKC files, CSRs), for the command line and the stores.
#pragma once

#include <optional>
#include <string>

#include "bytes.h"

namespace hsmprov {

// The file's bytes, or nullopt when it cannot be opened.
std::optional<Bytes> read_file(const std::string& path);

}  // namespace hsmprov
