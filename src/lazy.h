// A value made on its first use, from any thread. A make that throws leaves
// it unmade, so the next use tries again (a module path fixed, a token
// plugged in) instead of remembering the failure.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>

namespace hsmprov {

template <typename T>
class Lazy {
 public:
  template <typename Make>
  T& get(Make&& make) {
    if (T* ready = made()) return *ready;
    std::lock_guard<std::mutex> lock(mutex_);
    if (!value_) value_ = make();
    ready_.store(value_.get(), std::memory_order_release);
    return *value_;
  }
  // The value if it was made, else nullptr; never makes it.
  T* made() const { return ready_.load(std::memory_order_acquire); }

 private:
  std::mutex mutex_;
  std::unique_ptr<T> value_;
  std::atomic<T*> ready_{nullptr};
};

}  // namespace hsmprov
