// A PIN held in memory that is locked, excluded from core dumps and wiped
// when it goes away. PINs are kept for re-login after fork() only.
#pragma once

#include <cstddef>
#include <string>

namespace hsmprov {

class Pin {
 public:
  Pin() = default;
  explicit Pin(const std::string& value);
  // "file:PATH" reads the file (one trailing newline dropped); else literal.
  static Pin from_spec(const std::string& spec);
  ~Pin();
  Pin(Pin&& other) noexcept;
  Pin& operator=(Pin&& other) noexcept;
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

}  // namespace hsmprov
