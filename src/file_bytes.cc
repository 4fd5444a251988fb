// Whole-file reading with POSIX calls (no iostreams: the provider links the
// C++ runtime statically and keeps it small).
#include "file_bytes.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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

}  // namespace

std::optional<Bytes> read_file(const std::string& path, size_t limit) {
  Fd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
  if (file.fd < 0) return std::nullopt;
  struct stat info;
  if (fstat(file.fd, &info) == 0 && S_ISDIR(info.st_mode))
    fail(HSMPROV_R_INVALID_ARGUMENT, "'" + path + "' is a directory, not a file");
  Bytes bytes;
  unsigned char buffer[16384];
  for (;;) {
    ssize_t got = ::read(file.fd, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail(HSMPROV_R_INVALID_ARGUMENT, "cannot read '" + path + "': " + std::strerror(errno));
    if (got == 0) return bytes;
    if (bytes.size() + static_cast<size_t>(got) > limit)
      fail(HSMPROV_R_INVALID_ARGUMENT, "'" + path + "' is longer than " + std::to_string(limit) + " bytes");
    bytes.insert(bytes.end(), buffer, buffer + got);
  }
}

}  // namespace hsmprov
