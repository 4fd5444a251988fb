// PIN storage: one private anonymous page, mlock()ed and MADV_DONTDUMP, so
// the PIN reaches neither swap nor a core file.
#include "pin.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <openssl/crypto.h>

#include "error.h"

namespace hsmprov {
namespace {

size_t page_size() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }

}  // namespace

Pin::Pin(const char* value, size_t size) {
  if (size > 0) assign(value, size);
}

// Read into a buffer on the stack, wiped after, so that no copy of the PIN
// is left on the heap.
Pin Pin::from_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) fail(HSMPROV_R_PIN, "cannot read the PIN file '" + path + "': " + std::strerror(errno));
  struct stat info;
  bool directory = fstat(fd, &info) == 0 && S_ISDIR(info.st_mode);
  char buffer[4096];
  ssize_t size = directory ? -1 : ::read(fd, buffer, sizeof buffer);
  int read_error = errno;
  ::close(fd);
  if (directory) fail(HSMPROV_R_PIN, "the PIN file '" + path + "' is a directory");
  if (size < 0) fail(HSMPROV_R_PIN, "cannot read the PIN file '" + path + "': " + std::strerror(read_error));
  size_t length = static_cast<size_t>(size);
  if (length == sizeof buffer) {
    OPENSSL_cleanse(buffer, sizeof buffer);
    fail(HSMPROV_R_PIN, "the PIN file '" + path + "' is too long to hold a PIN");
  }
  // The first line is the PIN, as the example config says: an editor's
  // final newline, or a note on a second line, is not part of it.
  if (const void* newline = std::memchr(buffer, '\n', length))
    length = static_cast<size_t>(static_cast<const char*>(newline) - buffer);
  if (length > 0 && buffer[length - 1] == '\r') --length;
  if (length == 0) {
    OPENSSL_cleanse(buffer, sizeof buffer);  // a note on a second line
    fail(HSMPROV_R_PIN, "the PIN file '" + path + "' is empty");
  }
  Pin pin;
  try {
    pin.assign(buffer, length);
  } catch (...) {
    OPENSSL_cleanse(buffer, sizeof buffer);
    throw;
  }
  OPENSSL_cleanse(buffer, sizeof buffer);
  return pin;
}

void wipe(std::string& text) noexcept {
  // resize() within the capacity neither allocates nor throws; it makes the
  // whole buffer part of the string, so that all of it may be written.
  text.resize(text.capacity());
  OPENSSL_cleanse(text.data(), text.size());
  text.clear();
}

void wipe(std::vector<unsigned char>& bytes) noexcept {
  bytes.resize(bytes.capacity());  // within the capacity: no allocation
  OPENSSL_cleanse(bytes.data(), bytes.size());
  bytes.clear();
}

void Pin::assign(const char* value, size_t size) {
  if (size >= page_size()) fail(HSMPROV_R_PIN, "the PIN is longer than a memory page");
  void* page = mmap(nullptr, page_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) fail(HSMPROV_R_INTERNAL, "cannot allocate memory for the PIN");
  madvise(page, page_size(), MADV_DONTDUMP);
  mlock(page, page_size());  // best effort: RLIMIT_MEMLOCK may refuse
  page_ = static_cast<unsigned char*>(page);
  std::memcpy(page_, value, size);
  size_ = size;
}

Pin Pin::copy() const {
  Pin other;
  if (page_ != nullptr) other.assign(reinterpret_cast<const char*>(page_), size_);
  return other;
}

void Pin::release() {
  if (page_ == nullptr) return;
  OPENSSL_cleanse(page_, page_size());
  munlock(page_, page_size());
  munmap(page_, page_size());
  page_ = nullptr;
  size_ = 0;
}

Pin::~Pin() { release(); }

Pin::Pin(Pin&& other) noexcept : page_(other.page_), size_(other.size_) {
  other.page_ = nullptr;
  other.size_ = 0;
}

Pin& Pin::operator=(Pin&& other) noexcept {
  if (this != &other) {
    release();
    page_ = other.page_;
    size_ = other.size_;
    other.page_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

}  // namespace hsmprov
