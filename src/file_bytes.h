// Reading a whole file (PKC files, CSRs, key references), bounded: a
// directory, a device or a FIFO named by mistake gives an error, not an
// endless read.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "bytes.h"

namespace hsmprov {

constexpr size_t kMaxFileSize = 1 << 20;

// The file's bytes; nullopt when it cannot be opened. Throws
// Error(HSMPROV_R_INVALID_ARGUMENT) for a directory or more than `limit` bytes.
std::optional<Bytes> read_file(const std::string& path, size_t limit = kMaxFileSize);
// The same, as text.
std::optional<std::string> read_text_file(const std::string& path, size_t limit = kMaxFileSize);

}  // namespace hsmprov
