// Whole-file reading with POSIX calls (no iostreams: the provider links the
// C++ runtime statically and keeps it small).
#include "file_bytes.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "error.h"

namespace hsmprov {
namespace {

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

template <typename Buffer>
size_t buffer_max() {
  return Buffer().max_size() - 1;
}

// Reads into the buffer directly (one read for a regular file: the config
// is read this way in every OpenSSL program with hsmprov in it).
template <typename Buffer>
std::optional<Buffer> read_into(const std::string& path, size_t limit) {
  Fd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
  if (file.fd < 0) return std::nullopt;
  struct stat info;
  if (fstat(file.fd, &info) != 0) fail(HSMPROV_R_INVALID_ARGUMENT, "cannot read '" + path + "': " + std::strerror(errno));
  if (S_ISDIR(info.st_mode)) fail(HSMPROV_R_INVALID_ARGUMENT, "'" + path + "' is a directory, not a file");
  limit = std::min(limit, buffer_max<Buffer>());  // limit + 1 below must neither wrap nor exceed max_size
  Buffer buffer;
  size_t expected = S_ISREG(info.st_mode) ? static_cast<size_t>(info.st_size) : 0;
  buffer.resize(std::min(expected, limit) + 1);  // +1: a file that grew, or the end, shows
  size_t size = 0;
  for (;;) {
    if (size == buffer.size()) {
      if (size > limit) break;
      buffer.resize(std::min(buffer.size() * 2 + 4096, limit + 1));
    }
    ssize_t got = ::read(file.fd, &buffer[size], buffer.size() - size);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail(HSMPROV_R_INVALID_ARGUMENT, "cannot read '" + path + "': " + std::strerror(errno));
    if (got == 0) break;
    size += static_cast<size_t>(got);
  }
  if (size > limit) fail(HSMPROV_R_INVALID_ARGUMENT, "'" + path + "' is longer than " + std::to_string(limit) + " bytes");
  buffer.resize(size);
  return buffer;
}

}  // namespace

std::optional<Bytes> read_file(const std::string& path, size_t limit) { return read_into<Bytes>(path, limit); }

std::optional<std::string> read_text_file(const std::string& path, size_t limit) {
  return read_into<std::string>(path, limit);
}

}  // namespace hsmprov
