// Proxy modules (p11-kit's client, pkcs11-proxy, network HSM clients) write
// to a socket without MSG_NOSIGNAL: when their service has gone away, the
// write raises SIGPIPE, whose default action ends the whole process. So
// calls into a module run with SIGPIPE blocked for the calling thread (the
// signal a write raises goes to the thread that wrote), and a SIGPIPE
// raised meanwhile is consumed; one the application already had pending is
// left as it was. A process that ignores SIGPIPE (servers, Python, Node.js)
// needs none of it: the kernel drops the signal.
// Each costs system calls (about 1 µs each in a VM), so one guard covers a
// whole operation (its two or more calls): guards inside another do nothing.
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
  bool active_ = false;          // the outermost guard, in a process that does not ignore SIGPIPE
  bool was_blocked_ = false;     // the application blocks SIGPIPE itself
  bool pending_before_ = false;  // and had one pending: not ours to take
};

}  // namespace hsmprov
