// Proxy modules (p11-kit's client, pkcs11-proxy, network HSM clients) write
// to a socket without MSG_NOSIGNAL: when their service has gone away, the
// write raises SIGPIPE, whose default action ends the whole process. So
// every call into a module runs with SIGPIPE blocked for the calling thread
// (the signal a write raises goes to the thread that wrote), and a SIGPIPE
// raised during the call is consumed; one the application already had
// pending is left as it was.
#pragma once

#include <signal.h>

namespace hsmprov {

class QuietSigpipe {
 public:
  QuietSigpipe();
  ~QuietSigpipe();
  QuietSigpipe(const QuietSigpipe&) = delete;
  QuietSigpipe& operator=(const QuietSigpipe&) = delete;

 private:
  bool was_blocked_ = false;     // the application blocks SIGPIPE itself
  bool pending_before_ = false;  // and had one pending: not ours to take
};

}  // namespace hsmprov
