// PIN storage: one private anonymous page, mlock()ed and MADV_DONTDUMP, so
// the PIN reaches neither swap nor a core file.
#include "pin.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include <openssl/crypto.h>

#include "error.h"

namespace hsmprov {
namespace {

size_t page_size() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }

}  // namespace

Pin::Pin(const std::string& value) { assign(value.data(), value.size()); }

Pin Pin::from_spec(const std::string& spec) {
  if (spec.rfind("file:", 0) != 0) return Pin(spec);
  std::string path = spec.substr(5);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(HSMPROV_R_PIN, "cannot read the PIN file '" + path + "'");
  std::string value((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!value.empty() && value.back() == '\n') value.pop_back();
  if (!value.empty() && value.back() == '\r') value.pop_back();
  Pin pin(value);
  OPENSSL_cleanse(value.data(), value.size());
  return pin;
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
