// SIGPIPE blocked around module calls, and the one they raised consumed.
#include "pkcs11/quiet_sigpipe.h"

#include <pthread.h>
#include <time.h>

namespace hsmprov {
namespace {

const sigset_t& sigpipe_only() {
  static const sigset_t set = [] {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    return s;
  }();
  return set;
}

bool sigpipe_pending() {
  sigset_t pending;
  return sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
}

bool sigpipe_ignored() {
  struct sigaction current;
  return sigaction(SIGPIPE, nullptr, &current) == 0 && !(current.sa_flags & SA_SIGINFO) &&
         current.sa_handler == SIG_IGN;
}

thread_local int depth = 0;

}  // namespace

QuietSigpipe::QuietSigpipe() {
  if (depth++ > 0 || sigpipe_ignored()) return;
  active_ = true;
  sigset_t before;
  pthread_sigmask(SIG_BLOCK, &sigpipe_only(), &before);
  was_blocked_ = sigismember(&before, SIGPIPE) == 1;
  // An unblocked SIGPIPE cannot be pending: it would have been delivered.
  pending_before_ = was_blocked_ && sigpipe_pending();
}

QuietSigpipe::~QuietSigpipe() {
  --depth;
  if (!active_) return;
  if (!pending_before_ && sigpipe_pending()) {
    const struct timespec now = {0, 0};
    sigtimedwait(&sigpipe_only(), nullptr, &now);
  }
  if (!was_blocked_) pthread_sigmask(SIG_UNBLOCK, &sigpipe_only(), nullptr);
}

}  // namespace hsmprov
