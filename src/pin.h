// A PIN held in memory that is locked, excluded from core dumps and wiped
// when it goes away. PINs are kept for re-login after fork() only.
//
// The PIN lives in a Pin from the moment hsmprov reads it: from the config
// (parse_config), from the URI (Uri::parse takes p11-kit's copy, see
// uri.cc), from a file (read on the stack, wiped), or from OpenSSL's
// passphrase callback. Text that held it on the way there (the config
// file's text, the config values, the URI) is wiped with wipe() before it
// is freed; see README.md, "The PIN", for the copies hsmprov cannot reach.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace hsmprov {

class Pin {
 public:
  Pin() = default;
  // Copies `size` bytes into the locked page (no other copy is made).
  Pin(const char* value, size_t size);
  // The first line of the file (without its line end).
  static Pin from_file(const std::string& path);
  ~Pin();
  Pin(Pin&& other) noexcept;
  Pin& operator=(Pin&& other) noexcept;
  // Move-only: a second holder of the PIN is a second locked page (copy()).
  Pin(const Pin&) = delete;
  Pin& operator=(const Pin&) = delete;

  bool empty() const { return size_ == 0; }
  const unsigned char* data() const { return page_; }
  size_t size() const { return size_; }
  Pin copy() const;

 private:
  void assign(const char* value, size_t size);
  void release();

  unsigned char* page_ = nullptr;
  size_t size_ = 0;
};

// Overwrites the whole buffer of `text` (up to its capacity: a longer text
// it held before may lie past its end) with OPENSSL_cleanse, and empties
// it. The buffer stays allocated, so the string can be reused or freed.
void wipe(std::string& text) noexcept;
void wipe(std::vector<unsigned char>& bytes) noexcept;

// Wipes a string when the scope ends, however it ends.
class WipeOnExit {
 public:
  explicit WipeOnExit(std::string& text) : text_(text) {}
  ~WipeOnExit() { wipe(text_); }
  WipeOnExit(const WipeOnExit&) = delete;
  WipeOnExit& operator=(const WipeOnExit&) = delete;

 private:
  std::string& text_;
};

}  // namespace hsmprov
