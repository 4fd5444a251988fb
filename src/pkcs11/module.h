// A loaded PKCS#11 module: dlopen, C_Initialize with the configured init
// args, re-initialisation in a forked child (PKCS#11 requires it), and the
// one way every C_* call is made (call(), which fences OpenSSL's error queue).
#pragma once

#include <atomic>
#include <string>
#include <utility>

#include <openssl/err.h>

#include "error.h"
#include "pkcs11/p11.h"
#include "pkcs11/quiet_sigpipe.h"
#include "pkcs11/session_pool.h"

namespace hsmprov {

class Module {
 public:
  // Loads and initialises the module. Throws Error(HSMPROV_R_MODULE) naming
  // the path, what named it (`named_by`) and dlerror(), or the CKR of C_Initialize.
  Module(const std::string& path, const std::string& init_args, const std::string& named_by);
  ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  CK_FUNCTION_LIST* fn() const { return fn_; }
  const std::string& path() const { return path_; }
  // "module '/usr/lib/...so'": the prefix of errors about the module itself.
  std::string where() const { return "module '" + path_ + "'"; }
  const CK_INFO& info() const { return info_; }
  // The application initialised the module before us: it owns it, and we
  // never finalise it.
  bool shared() const { return !we_initialized_; }

  // True while this thread is inside the module's C_Initialize. A module
  // built on OpenSSL (SoftHSM) may load OpenSSL's config from there, and so
  // reach hsmprov again: it must not call the module then.
  static bool initializing_on_this_thread();

  // Cheap test, safe from any thread: are we in a forked child whose module
  // state has not been rebuilt yet? Then every session and object handle
  // from before is void.
  bool forked() const;
  // Initialises the module again in the child; the caller serialises it,
  // rebuilds what depends on the module, then calls fork_handled().
  void reinitialize_after_fork();
  void fork_handled();
  // C_Finalize and C_Initialize, with no other call in flight meanwhile:
  // a client of a network HSM that lost its service may need it before
  // sessions open again. Throws why it failed; the next try finalises
  // again, harmlessly. The caller serialises it and rebuilds what
  // depends on the module.
  void reinitialize();
  // The sessions this module has open for us, across its tokens.
  LiveSessions& live_sessions() { return live_sessions_; }

 private:
  CK_RV call_initialize();
  void initialize();
  void check_initialized(CK_RV rv, const char* when);

  std::string path_;
  std::string init_args_;
  void* library_ = nullptr;
  CK_FUNCTION_LIST* fn_ = nullptr;
  CK_INFO info_{};
  bool we_initialized_ = false;
  std::atomic<unsigned> forks_seen_{0};
  LiveSessions live_sessions_;
};

// Held for the length of each call into the module. fork() waits until no
// call is in flight and holds new ones back meanwhile: a child must not
// inherit a module lock that another thread held at the fork, or its first
// call (C_Finalize, to reset the module) waits for it forever.
class CallInFlight {
 public:
  CallInFlight();
  ~CallInFlight();
  CallInFlight(const CallInFlight&) = delete;
  CallInFlight& operator=(const CallInFlight&) = delete;

 private:
  bool counted_ = false;
};

// While one exists, no other thread's call into a module is in flight and
// none starts (they wait): the module may be finalised and initialised
// again under it, and sessions closed that no one else is using.
class ModuleGate {
 public:
  ModuleGate();
  ~ModuleGate();
  ModuleGate(const ModuleGate&) = delete;
  ModuleGate& operator=(const ModuleGate&) = delete;
};

// Calls a module function. A module built on OpenSSL in the same process
// (SoftHSM) may leave entries on OpenSSL's error queue even when it
// succeeds; a server then takes its next non-blocking handshake step as
// failed. So whatever the module pushes is dropped: the caller sees the
// CKR, and hsmprov's own error when it fails. A proxy module's write to a
// dead socket must not end the process (quiet_sigpipe.h; an operation's
// guard covers its calls, this one calls made outside any).
template <typename... Params, typename... Args>
CK_RV call(CK_RV (*function)(Params...), Args&&... args) {
  CallInFlight in_flight;
  QuietSigpipe quiet;
  ERR_set_mark();
  CK_RV rv = function(std::forward<Args>(args)...);
  ERR_pop_to_mark();
  return rv;
}

// At process exit OpenSSL tears providers down from its own atexit handler,
// when modules such as SoftHSM have lost the OpenSSL state they need to close
// sessions or finalise (they crash). Our handler is registered later, so it
// runs first and sets this: then no PKCS#11 call may be made any more.
bool process_is_exiting();

// "uid 33 (www-data)": who this process is, for errors about access.
std::string process_user();

// A failed PKCS#11 call: the message names where, the function and the
// CKR; rv() lets the caller tell a token service that went away from a
// refusal.
class Pkcs11Error : public Error {
 public:
  Pkcs11Error(CK_RV rv, const std::string& message) : Error(HSMPROV_R_PKCS11, message), rv_(rv) {}
  CK_RV rv() const { return rv_; }

 private:
  CK_RV rv_;
};

// The failures that say the token service went away, or that our handles
// no longer hold: a restart, a failover, a dropped connection.
bool service_lost(CK_RV rv);

// Throws Pkcs11Error naming `where`, the function and the CKR unless rv is
// CKR_OK; logs every call at debug level 2.
void check(CK_RV rv, const char* function, const std::string& where);

}  // namespace hsmprov
