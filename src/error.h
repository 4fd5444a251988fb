// The one error type of the core: a reason code (hsmprov.h) and a message
// that says where it happened. The provider layer turns it into an ERR entry.
#pragma once

#include <stdexcept>
#include <string>

#include "hsmprov/hsmprov.h"

namespace hsmprov {

class Error : public std::runtime_error {
 public:
  Error(int reason, const std::string& message) : std::runtime_error(message), reason_(reason) {}
  int reason() const { return reason_; }

 private:
  int reason_;
};

[[noreturn]] void fail(int reason, const std::string& message);

}  // namespace hsmprov
