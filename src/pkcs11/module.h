// A loaded PKCS#11 module: dlopen, C_Initialize with the configured init
// args, and re-initialisation in a forked child (PKCS#11 requires it).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "pkcs11/p11.h"

namespace hsmprov {

class Module {
 public:
  Module(const std::string& path, const std::string& init_args);
  ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  CK_FUNCTION_LIST* fn() const { return fn_; }
  const std::string& path() const { return path_; }

  // Cheap test, safe from any thread: are we in a forked child whose module
  // state has not been rebuilt yet? Then every session and object handle
  // from before is void.
  bool forked() const;
  // Initialises the module again in the child; the caller serialises it,
  // rebuilds what depends on the module, then calls fork_handled().
  void reinitialize_after_fork();
  void fork_handled();

 private:
  CK_RV call_initialize();
  void initialize();

  std::string path_;
  std::string init_args_;
  void* library_ = nullptr;
  CK_FUNCTION_LIST* fn_ = nullptr;
  bool we_initialized_ = false;
  std::atomic<unsigned> forks_seen_{0};
};

// At process exit OpenSSL tears providers down from its own atexit handler,
// when modules such as SoftHSM have lost the OpenSSL state they need to close
// sessions or finalise (they crash). Our handler is registered later, so it
// runs first and sets this: then no PKCS#11 call may be made any more.
bool process_is_exiting();

// Throws Error(HSMPROV_R_PKCS11) naming `where`, the function and the CKR
// unless rv is CKR_OK; logs every call at debug level 2.
void check(CK_RV rv, const char* function, const std::string& where);

}  // namespace hsmprov
