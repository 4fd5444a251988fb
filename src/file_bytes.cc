// Whole-file reading.
#include "file_bytes.h"

#include <fstream>
#include <iterator>

namespace hsmprov {

std::optional<Bytes> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace hsmprov
